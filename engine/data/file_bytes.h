// Whole-file reads through zlib's gz* functions, which decompress gzip files
// and pass other files through unchanged, so "x.gz" and "x" read alike.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ng {

// The (decompressed) content of `path`. Throws ng::Error naming the file when
// it cannot be opened, its gzip stream is corrupt or cut short, or it holds
// more than max_bytes (so that a small gzip file cannot fill the memory).
std::vector<uint8_t> read_file_bytes(const std::string& path, uint64_t max_bytes = UINT64_MAX);

// The first n bytes of the (decompressed) content, or all of it when shorter.
std::vector<uint8_t> read_file_prefix(const std::string& path, size_t n);

// The most bytes read_file_bytes can return for `path`: its size, or for a
// gzip file its size times deflate's largest compression ratio (1032:1). A
// header that declares more than this is refused before anything is read.
uint64_t max_content_bytes(const std::string& path);

// Big-endian 32-bit integer at p (IDX headers are big-endian).
inline uint32_t read_u32_be(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
}

}  // namespace ng
