#include "engine/io/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "engine/error.h"

namespace ng {

static std::string errno_text() { return std::strerror(errno); }

// "<path>.tmp.<pid>", with the file name cut short where the suffix would
// take it past the file system's limit on a name (255 bytes): a target whose
// own name fits must never fail for its temporary's.
static std::string temporary_for(const std::string& path) {
  const std::string suffix = ".tmp." + std::to_string(::getpid());
  const size_t slash = path.rfind('/'), name_start = slash == std::string::npos ? 0 : slash + 1;
  constexpr size_t kNameMax = 255;
  const size_t name_length = path.size() - name_start;
  if (name_length + suffix.size() <= kNameMax) return path + suffix;
  return path.substr(0, name_start + kNameMax - suffix.size()) + suffix;
}

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)), temp_path_(temporary_for(path_)) {
  file_ = std::fopen(temp_path_.c_str(), "wb");
  NG_CHECK(file_ != nullptr, path_, ": cannot open temporary file ", temp_path_, " for writing: ", errno_text());
}

AtomicFile::~AtomicFile() {
  if (committed_) return;
  if (file_) std::fclose(file_);
  std::remove(temp_path_.c_str());
}

void AtomicFile::write(const void* data, size_t nbytes) {
  NG_CHECK(file_ != nullptr && !committed_, path_, ": write after commit");
  if (nbytes == 0) return;
  NG_CHECK(std::fwrite(data, 1, nbytes, file_) == nbytes, path_, ": writing ", nbytes, " bytes to ",
           temp_path_, " failed: ", errno_text());
}

// Makes the rename itself durable: the directory entry lives in the folder.
static void sync_parent_directory(const std::string& path) {
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (dir.empty()) dir = ".";
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;  // best effort: some file systems do not allow it
  ::fsync(fd);
  ::close(fd);
}

void AtomicFile::commit() {
  NG_CHECK(file_ != nullptr && !committed_, path_, ": commit called twice");
  std::FILE* f = file_;
  file_ = nullptr;
  const bool flushed = std::fflush(f) == 0 && ::fsync(::fileno(f)) == 0;
  const std::string flush_error = flushed ? "" : errno_text();
  const bool closed = std::fclose(f) == 0;
  NG_CHECK(flushed && closed, path_, ": flushing ", temp_path_, " to disk failed: ",
           flushed ? errno_text() : flush_error);
  NG_CHECK(std::rename(temp_path_.c_str(), path_.c_str()) == 0, path_, ": renaming ", temp_path_,
           " over it failed: ", errno_text());
  committed_ = true;
  sync_parent_directory(path_);
}

void write_file_atomically(const std::string& path, const void* data, size_t nbytes) {
  AtomicFile file(path);
  file.write(data, nbytes);
  file.commit();
}

}  // namespace ng
