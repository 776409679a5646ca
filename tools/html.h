// Small pieces for writing self-contained HTML pages: escaping, files as
// data URIs (so a page needs nothing beside itself) and a table builder.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ng::tools {

// Text as HTML: & < > " ' become entities, so it is safe in content and in
// quoted attribute values.
std::string html_escape(std::string_view text);

// RFC 4648 base64 with padding.
std::string base64_encode(std::string_view bytes);

// The whole content of a file; throws ng::Error naming it when unreadable.
std::string read_file_bytes(const std::string& path);

// Width and height from a PNG's header; throws ng::Error when `bytes` is not a PNG.
struct PngSize {
  int64_t width = 0, height = 0;
};
PngSize png_size(std::string_view bytes, const std::string& what);

// "data:image/png;base64,..." of PNG bytes.
std::string png_data_uri(std::string_view png_bytes);

// A table cell: its content is HTML already (escape text first); the hover
// text is plain text.
struct Cell {
  std::string html;
  std::string css_class;
  std::string title;
};

// Cell of plain text.
Cell text_cell(std::string_view text, std::string css_class = "");

// A table with one header row; the first cell of each body row is its label
// (a <th scope="row">).
class HtmlTable {
 public:
  explicit HtmlTable(std::vector<Cell> header, std::string css_class = "");
  void add_row(std::vector<Cell> cells);
  std::string html() const;

 private:
  std::vector<Cell> header_;
  std::vector<std::vector<Cell>> rows_;
  std::string css_class_;
};

}  // namespace ng::tools
