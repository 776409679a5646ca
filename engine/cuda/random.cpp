// Placeholder until the CUDA kernels of this family land: each entry point
// throws a clear error instead of failing to link.
#include "engine/cuda/backend.h"
#include "engine/error.h"

namespace ng::cuda {

void uniform(const Tensor&, uint64_t, uint64_t) {
  throw Error("uniform: this op has no CUDA kernel yet; run it on the CPU (--device cpu)");
}

void normal(const Tensor&, uint64_t, uint64_t) {
  throw Error("normal: this op has no CUDA kernel yet; run it on the CPU (--device cpu)");
}

void bernoulli(const Tensor&, const Tensor&, uint64_t, uint64_t) {
  throw Error("bernoulli: this op has no CUDA kernel yet; run it on the CPU (--device cpu)");
}

void dropout_mask(const Tensor&, double, uint64_t, uint64_t) {
  throw Error("dropout_mask: this op has no CUDA kernel yet; run it on the CPU (--device cpu)");
}

}  // namespace ng::cuda
