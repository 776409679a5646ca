// Fuzz target: the CIFAR-10 binary batch reader (raw or gzip), records of one
// label byte and 3x32x32 pixels.
#include "engine/data/cifar10.h"
#include "fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = ng::fuzz::write_scratch_file("input-batch.bin", data, size);
  ng::fuzz::expect_clean_refusal([&] { ng::read_cifar10_batches({path}); });
  return 0;
}
