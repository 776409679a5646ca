// Placeholder until the CUDA kernels of this family land: each entry point
// throws a clear error instead of failing to link.
#include "engine/cuda/backend.h"
#include "engine/error.h"

namespace ng::cuda {

void reduce(cpu::Reduce, const Tensor&, const Tensor&, const std::vector<bool>&) {
  throw Error("reduce: this op has no CUDA kernel yet; run it on the CPU (--device cpu)");
}

}  // namespace ng::cuda
