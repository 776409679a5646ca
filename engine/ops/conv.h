// 2-D convolutions in NCHW, differentiable in input, weight and bias.
#pragma once

#include "engine/tensor.h"

namespace ng {

// x [N,Cin,H,W], w [Cout,Cin,kh,kw], b [Cout] or undefined.
// Output [N,Cout,(H+2p-kh)/s+1,(W+2p-kw)/s+1].
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b = {}, int64_t stride = 1, int64_t padding = 0);

// The adjoint of conv2d (PyTorch's ConvTranspose2d): x [N,Cin,H,W],
// w [Cin,Cout,kh,kw], b [Cout] or undefined. Output
// [N,Cout,(H-1)s-2p+kh+output_padding, (W-1)s-2p+kw+output_padding].
Tensor conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor& b = {}, int64_t stride = 1,
                        int64_t padding = 0, int64_t output_padding = 0);

}  // namespace ng
