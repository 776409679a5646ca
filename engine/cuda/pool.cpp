// Placeholder until the CUDA kernels of this family land: each entry point
// throws a clear error instead of failing to link.
#include "engine/cuda/backend.h"
#include "engine/error.h"

namespace ng::cuda {

void avg_pool2d_forward(const Tensor&, const Tensor&, int64_t, int64_t, int64_t) {
  throw Error("avg_pool2d_forward: this op has no CUDA kernel yet; run it on the CPU (--device cpu)");
}

void avg_pool2d_backward(const Tensor&, const Tensor&, int64_t, int64_t, int64_t) {
  throw Error("avg_pool2d_backward: this op has no CUDA kernel yet; run it on the CPU (--device cpu)");
}

void upsample_nearest2d_forward(const Tensor&, const Tensor&, int64_t) {
  throw Error("upsample_nearest2d_forward: this op has no CUDA kernel yet; run it on the CPU (--device cpu)");
}

void upsample_nearest2d_backward(const Tensor&, const Tensor&, int64_t) {
  throw Error("upsample_nearest2d_backward: this op has no CUDA kernel yet; run it on the CPU (--device cpu)");
}

}  // namespace ng::cuda
