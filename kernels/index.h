// The index ops on the GPU, twins of engine/cpu/index.h with the same
// arguments: contiguous tensors seen around one dim as [outer, n, inner],
// index tensors holding whole numbers in the data's dtype, already checked
// in range. Each output element has one thread and one writer (the backward
// of gather too), so the results equal the CPU's bit for bit.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/elementwise.h"
#include "kernels/index_math.h"

namespace ng::kernels {

// out[o, k, i] = x[o, index[o, k, i], i]; index and out hold `index_numel` elements.
void launch_gather(ScalarType t, void* out, const void* x, const void* index, int64_t index_numel,
                   const AroundDim& x_shape, cudaStream_t stream);
// dx[o, j, i] = the sum over k (ascending) of g[o, k, i] where index[o, k, i] == j.
void launch_gather_backward(ScalarType t, void* dx, const void* index, const void* g, int64_t index_numel,
                            const AroundDim& x_shape, cudaStream_t stream);
// out[o, i] = the first k where x[o, k, i] is largest (a NaN counts as largest).
void launch_argmax(ScalarType t, void* out, const void* x, const AroundDim& x_shape, cudaStream_t stream);

}  // namespace ng::kernels
