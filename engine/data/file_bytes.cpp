#include "engine/data/file_bytes.h"

#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "engine/error.h"

namespace ng {

std::vector<uint8_t> read_file_bytes(const std::string& path) {
  std::error_code ec;
  NG_CHECK(std::filesystem::exists(path, ec), path, ": no such file");
  NG_CHECK(std::filesystem::is_regular_file(path, ec), path, ": not a regular file");
  gzFile file = gzopen(path.c_str(), "rb");
  NG_CHECK(file != nullptr, path, ": cannot open for reading: ", std::strerror(errno));
  gzbuffer(file, 1 << 18);

  std::vector<uint8_t> bytes;
  constexpr size_t chunk = 1 << 20;
  std::string error;
  for (;;) {
    const size_t old_size = bytes.size();
    bytes.resize(old_size + chunk);
    const int got = gzread(file, bytes.data() + old_size, unsigned(chunk));
    bytes.resize(old_size + size_t(got > 0 ? got : 0));
    int errnum = Z_OK;
    const char* message = gzerror(file, &errnum);
    if (got < 0 || errnum != Z_OK) {  // Z_BUF_ERROR: the gzip stream was cut short
      error = message ? message : "read error";
      break;
    }
    if (got == 0) break;
  }
  const int close_status = gzclose(file);
  NG_CHECK(error.empty(), path, ": corrupt or truncated gzip data: ", error);
  NG_CHECK(close_status == Z_OK, path, ": corrupt or truncated gzip data (gzclose returned ", close_status, ")");
  return bytes;
}

}  // namespace ng
