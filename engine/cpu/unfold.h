// CPU unfold (im2col) and fold (col2im), kernels/unfold_math.h's geometry.
// x / dx are contiguous [N, C, H, W], cols contiguous [N, C*kh*kw, out_h*out_w].
#pragma once

#include "engine/tensor.h"
#include "kernels/unfold_math.h"

namespace ng::cpu {

void unfold(const Tensor& cols, const Tensor& x, const kernels::UnfoldGeometry& g);
// x[n, c, r, q] = the sum, taps (i, j) in row-major order, of the column
// entries read from pixel (r, q): a gather per pixel, the order the GPU uses.
void fold(const Tensor& x, const Tensor& cols, const kernels::UnfoldGeometry& g);

}  // namespace ng::cpu
