// A check of a JPEG's table segments before stb_image decodes the file.
// stb_image 2.27 (Debian 12's libstb-dev) builds each Huffman table without
// checking that its 16 code-length counts sum to at most 256 symbols
// (upstream fixed it in 2.28): a crafted file then writes past the table, out
// of the heap block, in stbi__build_huffman. Found by the image fuzz target.
//
// stb reads a table segment (DHT, DQT) table by table, trusting the tables'
// own sizes over the segment's declared length, so a segment whose tables
// overrun it would move stb's reading position away from the one a marker
// walk sees. Requiring the tables to fill each segment exactly (as every
// valid file's do) keeps the two in step, so every table stb reads is one
// checked here.
#pragma once

#include <cstddef>
#include <string>

namespace ng {

// What is wrong with the table segments of the JPEG in data[0, size), or ""
// when nothing is (or it is not a JPEG at all: the decoder refuses that).
std::string jpeg_table_problem(const unsigned char* data, size_t size);

}  // namespace ng
