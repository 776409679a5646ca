// Pooling and resampling of NCHW images, differentiable.
#pragma once

#include "engine/tensor.h"

namespace ng {

// Average over kernel x kernel windows; stride 0 means stride = kernel.
// Zero padding counts in the average (PyTorch's count_include_pad=true).
Tensor avg_pool2d(const Tensor& x, int64_t kernel, int64_t stride = 0, int64_t padding = 0);
// The maximum of each kernel x kernel window (stride 0 means stride =
// kernel; padding, at most half the kernel, is -infinity, so it never wins).
// The gradient goes to each window's maximum, the first on a tie, as in
// PyTorch (kernels/max_pool_math.h); a NaN in a window is its maximum.
Tensor max_pool2d(const Tensor& x, int64_t kernel, int64_t stride = 0, int64_t padding = 0);
// Bilinear resampling of [N,C,H,W] to [N,C,out_h,out_w], PyTorch's
// F.interpolate(x, size=(out_h, out_w), mode="bilinear", align_corners=...).
// Interpolation is linear in x and separable, so it is two products with
// small interpolation matrices, y = A_h x A_w^T (A_h [out_h, H], each row
// holding the two weights of an output row), and its gradient is theirs:
// every device, every order. The products run in fp32 whatever the matmul
// precision (tf32 would round the pixels).
Tensor upsample_bilinear2d(const Tensor& x, int64_t out_h, int64_t out_w, bool align_corners = false);
// Each pixel repeated scale x scale times: [N,C,H,W] -> [N,C,H*s,W*s].
Tensor upsample_nearest2d(const Tensor& x, int64_t scale);

}  // namespace ng
