// Fuzz target: the IDX readers (MNIST and Fashion-MNIST), raw or gzip: zlib's
// reader passes a file without the gzip magic through unchanged, so one
// target covers both. A header declares the image count and size, which must
// be checked against what the file can hold before anything is allocated.
#include "engine/data/idx.h"
#include "fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = ng::fuzz::write_scratch_file("input-idx", data, size);
  ng::fuzz::expect_clean_refusal([&] { ng::read_idx_images(path); });
  ng::fuzz::expect_clean_refusal([&] { ng::read_idx_labels(path); });
  return 0;
}
