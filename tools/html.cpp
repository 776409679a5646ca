#include "tools/html.h"

#include <fstream>
#include <iterator>
#include <sstream>

#include "engine/error.h"

namespace ng::tools {

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string base64_encode(std::string_view bytes) {
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  // Three bytes (24 bits) make four 6-bit digits.
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = uint32_t(uint8_t(bytes[i])) << 16 | uint32_t(uint8_t(bytes[i + 1])) << 8 | uint8_t(bytes[i + 2]);
    for (int shift : {18, 12, 6, 0}) out += alphabet[(v >> shift) & 63];
  }
  // The last one or two bytes, padded with '='.
  const size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t v = uint32_t(uint8_t(bytes[i])) << 16;
    if (rest == 2) v |= uint32_t(uint8_t(bytes[i + 1])) << 8;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += rest == 2 ? alphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  NG_CHECK(in.good(), "cannot read ", path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

PngSize png_size(std::string_view bytes, const std::string& what) {
  // 8-byte signature, then the IHDR chunk: length (4), "IHDR" (4), width (4), height (4), big-endian.
  static const std::string_view signature("\x89PNG\r\n\x1a\n", 8);
  NG_CHECK(bytes.size() >= 24 && bytes.substr(0, 8) == signature && bytes.substr(12, 4) == "IHDR", what,
           " is not a PNG file (", bytes.size(), " bytes without a PNG signature and header)");
  auto be32 = [&](size_t at) {
    return int64_t(uint8_t(bytes[at])) << 24 | int64_t(uint8_t(bytes[at + 1])) << 16 |
           int64_t(uint8_t(bytes[at + 2])) << 8 | int64_t(uint8_t(bytes[at + 3]));
  };
  return {be32(16), be32(20)};
}

std::string png_data_uri(std::string_view png_bytes) { return "data:image/png;base64," + base64_encode(png_bytes); }

Cell text_cell(std::string_view text, std::string css_class) { return {html_escape(text), std::move(css_class), ""}; }

HtmlTable::HtmlTable(std::vector<Cell> header, std::string css_class)
    : header_(std::move(header)), css_class_(std::move(css_class)) {}

void HtmlTable::add_row(std::vector<Cell> cells) {
  NG_CHECK(cells.size() == header_.size(), "HtmlTable: a row of ", cells.size(), " cells under a header of ",
           header_.size());
  rows_.push_back(std::move(cells));
}

namespace {

std::string cell_html(const char* tag, const Cell& c, const char* extra = "") {
  std::ostringstream os;
  os << '<' << tag << extra;
  if (!c.css_class.empty()) os << " class=\"" << html_escape(c.css_class) << '"';
  if (!c.title.empty()) os << " title=\"" << html_escape(c.title) << '"';
  os << '>' << c.html << "</" << tag << '>';
  return os.str();
}

}  // namespace

std::string HtmlTable::html() const {
  std::ostringstream os;
  os << "<table" << (css_class_.empty() ? "" : " class=\"" + html_escape(css_class_) + "\"") << ">\n<thead><tr>";
  for (const Cell& c : header_) os << cell_html("th", c, " scope=\"col\"");
  os << "</tr></thead>\n<tbody>\n";
  for (const auto& row : rows_) {
    os << "<tr>";
    for (size_t i = 0; i < row.size(); ++i) os << (i == 0 ? cell_html("th", row[i], " scope=\"row\"") : cell_html("td", row[i]));
    os << "</tr>\n";
  }
  os << "</tbody>\n</table>\n";
  return os.str();
}

}  // namespace ng::tools
