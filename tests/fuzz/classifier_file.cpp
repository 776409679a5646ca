// Fuzz target: the classifier file that eval's features come from (a
// safetensors file whose metadata describes the architecture). What the
// metadata declares sizes the model that is built, so it is checked first.
#include "fuzz_target.h"
#include "tools/classifier_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = ng::fuzz::write_scratch_file("classifier.safetensors", data, size);
  ng::fuzz::expect_clean_refusal([&] { ng::tools::load_classifier(path, ng::Device::cpu()); });
  return 0;
}
