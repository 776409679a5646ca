// Atomic file replacement: write everything to "<path>.tmp.<pid>" (the name
// cut short where it would pass 255 bytes), flush it to
// disk (fflush + fsync), then rename() it over the target. rename() is atomic
// on POSIX file systems, so a reader sees either the old file or the complete
// new one, never a half-written checkpoint, and a crash or an error midway
// leaves the old file untouched.
#pragma once

#include <cstddef>
#include <cstdio>
#include <string>

namespace ng {

class AtomicFile {
 public:
  // Opens the temporary file; throws ng::Error naming the path on failure.
  explicit AtomicFile(std::string path);
  // Without commit() (an exception was thrown, say) the temporary is removed.
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t nbytes);
  // Flushes, syncs and renames over the target. Call exactly once.
  void commit();

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_path_; }

 private:
  std::string path_;
  std::string temp_path_;
  std::FILE* file_ = nullptr;
  bool committed_ = false;
};

// Writes `nbytes` bytes as the whole content of `path`, atomically.
void write_file_atomically(const std::string& path, const void* data, size_t nbytes);

}  // namespace ng
