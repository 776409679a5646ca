// CPU kernels for the index ops (engine/ops/index.h). Tensors are contiguous
// and seen around one dim as [outer, n, inner] (kernels/index_math.h); index
// tensors hold whole numbers in the data's dtype, already checked in range.
#pragma once

#include "engine/tensor.h"
#include "kernels/index_math.h"

namespace ng::cpu {

// out[o, k, i] = x[o, index[o, k, i], i]: x is [outer, x_n, inner], index and
// out are [outer, index_n, inner].
void gather(const Tensor& out, const Tensor& x, const Tensor& index, const kernels::AroundDim& x_shape);
// Its adjoint: dx[o, j, i] = the sum of g[o, k, i] over the k (ascending)
// with index[o, k, i] == j. Written as a gather over k, so each dx element
// has one writer: no atomics on the GPU, and the same order on both devices.
void gather_backward(const Tensor& dx, const Tensor& index, const Tensor& g, const kernels::AroundDim& x_shape);
// out[o, i] = the first k where x[o, k, i] is largest (a NaN counts as largest).
void argmax(const Tensor& out, const Tensor& x, const kernels::AroundDim& x_shape);

}  // namespace ng::cpu
