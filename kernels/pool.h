// avg_pool2d and upsample_nearest2d with their adjoints, for NCHW images,
// matching the CPU twins (engine/cpu/pool.h) bit for bit: each output sums
// the same values in the same order. Inputs may have any strides; outputs
// are contiguous [N, C, *, *].
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/elementwise.h"

namespace ng::kernels {

// The sizes and element strides of an NCHW view.
struct Image4d {
  int64_t n = 0, c = 0, h = 0, w = 0;
  int64_t sn = 0, sc = 0, sh = 0, sw = 0;
};

// out [N,C,out_h,out_w]: the mean of each kernel x kernel window of x (windows
// start at o * stride - padding; padding counts as zeros, the divisor is
// always kernel^2).
void launch_avg_pool2d_forward(ScalarType t, void* out, int64_t out_h, int64_t out_w, const void* x, const Image4d& xi,
                               int64_t kernel, int64_t stride, int64_t padding, cudaStream_t stream);
// dx [N,C,h,w] = the sum of g / kernel^2 over the windows that cover each pixel.
void launch_avg_pool2d_backward(ScalarType t, void* dx, int64_t h, int64_t w, const void* g, const Image4d& gi,
                                int64_t kernel, int64_t stride, int64_t padding, cudaStream_t stream);

// max_pool2d's adjoint pair (kernels/max_pool_math.h picks each window's
// maximum of the selector x): out [N,C,out_h,out_w] = v at the argmax of x in
// each window (v shaped as x), and dx [N,C,H,W] (x's shape) = the sum of g
// over the windows whose argmax each element is, as a gather.
void launch_max_pool2d_select(ScalarType t, void* out, int64_t out_h, int64_t out_w, const void* x, const Image4d& xi,
                              const void* v, const Image4d& vi, int64_t kernel, int64_t stride, int64_t padding,
                              cudaStream_t stream);
void launch_max_pool2d_scatter(ScalarType t, void* dx, const void* x, const Image4d& xi, const void* g,
                               const Image4d& gi, int64_t kernel, int64_t stride, int64_t padding, cudaStream_t stream);

// out [N,C,H*s,W*s]: each pixel of x repeated s x s times.
void launch_upsample_nearest2d_forward(ScalarType t, void* out, const void* x, const Image4d& xi, int64_t scale,
                                       cudaStream_t stream);
// dx [N,C,H/s,W/s]: the sum of each s x s block of g (a gather: no atomics).
void launch_upsample_nearest2d_backward(ScalarType t, void* dx, const void* g, const Image4d& gi, int64_t scale,
                                        cudaStream_t stream);

}  // namespace ng::kernels
