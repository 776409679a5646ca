#include "fuzz_target.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace ng::fuzz {

namespace fs = std::filesystem;

const std::string& scratch_folder() {
  // Never destroyed: the exit handler that removes the folder may run after
  // static objects are destroyed (the two run interleaved, in reverse order).
  static const std::string* folder = [] {
    const fs::path base = fs::is_directory("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    const fs::path dir = base / ("nanogen-fuzz-" + std::to_string(getpid()));
    fs::create_directories(dir);
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(*folder, ec);
    });
    return new std::string(dir.string());
  }();
  return *folder;
}

std::string write_scratch_file(const std::string& name, const uint8_t* data, size_t size) {
  const std::string path = scratch_folder() + "/" + name;
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), std::streamsize(size));
  out.close();
  if (!out) std::abort();  // the harness itself failed, not the reader
  return path;
}

}  // namespace ng::fuzz
