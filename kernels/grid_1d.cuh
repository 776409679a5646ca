// A one-dimensional grid-stride launch, for kernels with one thread per
// output element (kernels/index.cu, kernels/unfold.cu).
#pragma once

#include <cstdint>

namespace ng::kernels {

constexpr int kBlock1d = 256;

// Blocks for n elements, capped at 65535 (the grid-stride loop covers the rest).
inline dim3 grid_1d(int64_t n) {
  const int64_t blocks = (n + kBlock1d - 1) / kBlock1d;
  return dim3(unsigned(blocks < 65535 ? blocks : 65535));
}

// Calls f(e) for every e < n, each e on one thread.
template <class F>
__device__ __forceinline__ void for_each_element(int64_t n, F&& f) {
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < n; e += int64_t(gridDim.x) * blockDim.x) f(e);
}

}  // namespace ng::kernels
