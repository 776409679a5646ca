// CPU pooling and nearest-neighbour resampling of NCHW images, one (n, c)
// plane at a time. Outputs are preallocated and contiguous; inputs may have
// any strides; float32 and float64.
#pragma once

#include <cstdint>

#include "engine/tensor.h"

namespace ng::cpu {

// out [N,C,Ho,Wo]: the mean of each kernel x kernel window of x [N,C,H,W]
// (windows start at o * stride - padding; padding counts as zeros).
void avg_pool2d_forward(const Tensor& out, const Tensor& x, int64_t kernel, int64_t stride, int64_t padding);
// Its adjoint: dx [N,C,H,W] gets g / kernel^2 from every window that covers it.
void avg_pool2d_backward(const Tensor& dx, const Tensor& g, int64_t kernel, int64_t stride, int64_t padding);

// max_pool2d as a pair of adjoint maps, both steered by the selector x
// [N,C,H,W] (kernels/max_pool_math.h picks each window's maximum of x):
// out [N,C,Ho,Wo] = v at the argmax of x in each window (v shaped as x; the
// pooling itself is v = x), and dx [N,C,H,W] = the sum of g [N,C,Ho,Wo] over
// the windows whose argmax each element is.
void max_pool2d_select(const Tensor& out, const Tensor& x, const Tensor& v, int64_t kernel, int64_t stride,
                       int64_t padding);
void max_pool2d_scatter(const Tensor& dx, const Tensor& x, const Tensor& g, int64_t kernel, int64_t stride,
                        int64_t padding);

// out [N,C,H*s,W*s]: each pixel of x [N,C,H,W] repeated s x s times.
void upsample_nearest2d_forward(const Tensor& out, const Tensor& x, int64_t scale);
// Its adjoint, a sum pooling: dx [N,C,H,W] = the sum of each s x s block of g.
void upsample_nearest2d_backward(const Tensor& dx, const Tensor& g, int64_t scale);

}  // namespace ng::cpu
