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
// Each pixel repeated scale x scale times: [N,C,H,W] -> [N,C,H*s,W*s].
Tensor upsample_nearest2d(const Tensor& x, int64_t scale);

}  // namespace ng
