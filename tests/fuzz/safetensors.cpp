// Fuzz target: the safetensors reader (every checkpoint, the shipped
// classifier, weights from PyTorch). Its header is JSON of attacker-chosen
// length, shapes and offsets: each must be checked before it sizes anything.
#include "engine/io/safetensors.h"
#include "fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = ng::fuzz::write_scratch_file("input.safetensors", data, size);
  ng::fuzz::expect_clean_refusal([&] {
    const ng::SafetensorsContent content = ng::load_safetensors(path);
    // What a loader does next: look tensors up and compare them to a model.
    ng::check_tensor_set(content.tensors, {{"weight", {2, 2}, ng::DType::f32}}, "fuzz", true, true);
  });
  return 0;
}
