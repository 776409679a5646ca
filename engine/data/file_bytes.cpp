#include "engine/data/file_bytes.h"

#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "engine/error.h"

namespace ng {

namespace {

// A gzFile of `path` (or a plain file passed through), closed at scope exit.
class GzInput {
 public:
  explicit GzInput(const std::string& path) : path_(path) {
    std::error_code ec;
    NG_CHECK(std::filesystem::exists(path, ec), path, ": no such file");
    NG_CHECK(std::filesystem::is_regular_file(path, ec), path, ": not a regular file");
    file_ = gzopen(path.c_str(), "rb");
    NG_CHECK(file_ != nullptr, path, ": cannot open for reading: ", std::strerror(errno));
    gzbuffer(file_, 1 << 18);
  }
  ~GzInput() {
    if (file_) gzclose(file_);
  }
  GzInput(const GzInput&) = delete;
  GzInput& operator=(const GzInput&) = delete;

  // Appends up to n bytes to `bytes`; returns how many were read (0 at the end).
  size_t read(std::vector<uint8_t>& bytes, size_t n) {
    const size_t old_size = bytes.size();
    bytes.resize(old_size + n);
    const int got = gzread(file_, bytes.data() + old_size, unsigned(n));
    bytes.resize(old_size + size_t(got > 0 ? got : 0));
    int errnum = Z_OK;
    const char* message = gzerror(file_, &errnum);
    // Z_BUF_ERROR: the gzip stream was cut short.
    NG_CHECK(got >= 0 && errnum == Z_OK, path_, ": corrupt or truncated gzip data: ", message ? message : "read error");
    return size_t(got);
  }

  void close() {
    const int status = gzclose(file_);
    file_ = nullptr;
    NG_CHECK(status == Z_OK, path_, ": corrupt or truncated gzip data (gzclose returned ", status, ")");
  }

 private:
  std::string path_;
  gzFile file_ = nullptr;
};

}  // namespace

std::vector<uint8_t> read_file_bytes(const std::string& path, uint64_t max_bytes) {
  GzInput input(path);
  std::vector<uint8_t> bytes;
  constexpr size_t chunk = 1 << 20;
  while (input.read(bytes, chunk) > 0)
    NG_CHECK(bytes.size() <= max_bytes, path, ": holds more than ", max_bytes,
             " bytes, more than its format allows (corrupt, or a gzip bomb); not read further");
  input.close();
  return bytes;
}

std::vector<uint8_t> read_file_prefix(const std::string& path, size_t n) {
  GzInput input(path);
  std::vector<uint8_t> bytes;
  while (bytes.size() < n && input.read(bytes, n - bytes.size()) > 0) {
  }
  return bytes;
}

uint64_t max_content_bytes(const std::string& path) {
  std::error_code ec;
  const uint64_t size = std::filesystem::file_size(path, ec);
  NG_CHECK(!ec, path, ": cannot read its size: ", ec.message());
  unsigned char magic[2] = {0, 0};
  std::ifstream(path, std::ios::binary).read(reinterpret_cast<char*>(magic), 2);
  const bool gzip = magic[0] == 0x1f && magic[1] == 0x8b;
  return gzip ? size * 1032 : size;
}

}  // namespace ng
