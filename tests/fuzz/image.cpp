// Fuzz target: decoding one image of an image folder (PNG or JPEG through
// stb_image, which has a history of CVEs). The dimensions an image declares
// are checked before it is decoded, the JPEG's tables before stb reads them,
// and stb's allocations are capped from the declared size, so a small file
// cannot ask for gigabytes (engine/io/stb_allocation.h).
#include "engine/io/image.h"
#include "fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = ng::fuzz::write_scratch_file("input-image", data, size);
  ng::fuzz::expect_clean_refusal([&] { ng::load_image(path); });
  ng::fuzz::expect_clean_refusal([&] { ng::load_image(path, 1); });
  return 0;
}
