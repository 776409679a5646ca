// Placeholder until the CUDA kernels of this family land: each entry point
// throws a clear error instead of failing to link.
#include "engine/cuda/backend.h"
#include "engine/error.h"

namespace ng::cuda {

void adam_step(const cpu::AdamStep&, const Tensor&, const Tensor&, const Tensor&, const Tensor&) {
  throw Error("adam_step: this op has no CUDA kernel yet; run it on the CPU (--device cpu)");
}

}  // namespace ng::cuda
