// Whole-file reads through zlib's gz* functions, which decompress gzip files
// and pass other files through unchanged, so "x.gz" and "x" read alike.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ng {

// The (decompressed) content of `path`. Throws ng::Error naming the file when
// it cannot be opened or its gzip stream is corrupt or cut short.
std::vector<uint8_t> read_file_bytes(const std::string& path);

// Big-endian 32-bit integer at p (IDX headers are big-endian).
inline uint32_t read_u32_be(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
}

}  // namespace ng
