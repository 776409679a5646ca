// Placeholder until the CUDA kernels of this family land: each entry point
// throws a clear error instead of failing to link.
#include "engine/cuda/backend.h"
#include "engine/error.h"

namespace ng::cuda {

void softmax_forward(const cpu::SoftmaxLayout&, const Tensor&, const Tensor&, bool) {
  throw Error("softmax_forward: this op has no CUDA kernel yet; run it on the CPU (--device cpu)");
}

void softmax_backward(const cpu::SoftmaxLayout&, const Tensor&, const Tensor&, const Tensor&, bool) {
  throw Error("softmax_backward: this op has no CUDA kernel yet; run it on the CPU (--device cpu)");
}

}  // namespace ng::cuda
