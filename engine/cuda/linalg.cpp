// Placeholder until the CUDA kernels of this family land: each entry point
// throws a clear error instead of failing to link.
#include "engine/cuda/backend.h"
#include "engine/error.h"

namespace ng::cuda {

void gemm(const Tensor&, const Tensor&, const Tensor&, double) {
  throw Error("gemm: this op has no CUDA kernel yet; run it on the CPU (--device cpu)");
}

}  // namespace ng::cuda
