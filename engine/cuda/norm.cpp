// Placeholder until the CUDA kernels of this family land: each entry point
// throws a clear error instead of failing to link.
#include "engine/cuda/backend.h"
#include "engine/error.h"

namespace ng::cuda {

void norm_forward(const cpu::NormLayout&, const Tensor&, const Tensor&, const Tensor&, double, const Tensor&, const Tensor&, const Tensor&, const Tensor&) {
  throw Error("norm_forward: this op has no CUDA kernel yet; run it on the CPU (--device cpu)");
}

void norm_backward(const cpu::NormLayout&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&) {
  throw Error("norm_backward: this op has no CUDA kernel yet; run it on the CPU (--device cpu)");
}

}  // namespace ng::cuda
