// Placeholder until the CUDA kernels of this family land: each entry point
// throws a clear error instead of failing to link.
#include "engine/cuda/backend.h"
#include "engine/error.h"

namespace ng::cuda {

void conv2d_forward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, int64_t, int64_t) {
  throw Error("conv2d_forward: this op has no CUDA kernel yet; run it on the CPU (--device cpu)");
}

void conv2d_input_grad(const Tensor&, const Tensor&, const Tensor&, const Tensor&, int64_t, int64_t) {
  throw Error("conv2d_input_grad: this op has no CUDA kernel yet; run it on the CPU (--device cpu)");
}

void conv2d_weight_grad(const Tensor&, const Tensor&, const Tensor&, int64_t, int64_t) {
  throw Error("conv2d_weight_grad: this op has no CUDA kernel yet; run it on the CPU (--device cpu)");
}

}  // namespace ng::cuda
