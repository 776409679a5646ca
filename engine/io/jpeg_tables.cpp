#include "engine/io/jpeg_tables.h"

namespace ng {

namespace {

constexpr unsigned char kMarker = 0xFF, kStartOfImage = 0xD8, kEndOfImage = 0xD9, kHuffmanTables = 0xC4,
                        kQuantizationTables = 0xDB;

bool is_restart(unsigned char m) { return m >= 0xD0 && m <= 0xD7; }

// A DHT segment's body: tables of a class/index byte, 16 counts of codes by
// length, and as many symbols as the counts sum to (at most 256).
std::string check_huffman_tables(const unsigned char* p, size_t length) {
  size_t at = 0;
  while (at < length) {
    if (length - at < 17) return "a Huffman table runs past its segment";
    size_t symbols = 0;
    for (size_t i = 1; i <= 16; ++i) symbols += p[at + i];
    if (symbols > 256)
      return "a Huffman table declares " + std::to_string(symbols) + " symbols, more than the 256 a byte can name";
    if (length - at - 17 < symbols) return "a Huffman table runs past its segment";
    at += 17 + symbols;
  }
  return "";
}

// A DQT segment's body: tables of a precision/index byte and 64 values of
// one byte (precision 0) or two (precision 1).
std::string check_quantization_tables(const unsigned char* p, size_t length) {
  size_t at = 0;
  while (at < length) {
    const size_t table = p[at] >> 4 == 0 ? 65 : 129;
    if (length - at < table) return "a quantization table runs past its segment";
    at += table;
  }
  return "";
}

}  // namespace

std::string jpeg_table_problem(const unsigned char* data, size_t size) {
  // A JPEG as stb recognises one: FF, any number of FF fill bytes, D8.
  if (size < 2 || data[0] != kMarker) return "";
  size_t at = 0;
  while (at + 1 < size && data[at + 1] == kMarker) ++at;
  if (at + 1 >= size || data[at + 1] != kStartOfImage) return "";
  at += 2;
  while (at + 1 < size) {
    // Between segments, and in a scan's entropy-coded data, anything but a
    // marker is skipped: FF 00 is a stuffed data byte, FF FF a fill byte,
    // restart markers have no length.
    if (data[at] != kMarker) {
      ++at;
      continue;
    }
    const unsigned char marker = data[at + 1];
    if (marker == kMarker) {
      ++at;
      continue;
    }
    if (marker == 0x00 || is_restart(marker) || marker == kStartOfImage) {
      at += 2;
      continue;
    }
    if (marker == kEndOfImage || at + 4 > size) return "";
    const size_t length = size_t(data[at + 2]) << 8 | data[at + 3];  // counts its own two bytes
    if (length < 2) return "a segment declares a length below 2";
    const size_t body = length - 2;
    const size_t available = size - (at + 4) < body ? size - (at + 4) : body;
    std::string problem;
    if (marker == kHuffmanTables) problem = check_huffman_tables(data + at + 4, available);
    if (marker == kQuantizationTables) problem = check_quantization_tables(data + at + 4, available);
    if (!problem.empty()) return problem;
    at += 4 + body;
  }
  return "";
}

}  // namespace ng
