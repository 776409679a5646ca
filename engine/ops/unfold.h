// unfold (im2col) and fold (col2im) of NCHW images, PyTorch's F.unfold and
// F.fold, differentiable: each is the other's adjoint, so each one's
// backward is the other and gradients of any order work.
//
// They are what a general convolution is made of: unfold copies every
// window of the image into a column, and a convolution is then one matrix
// product of the weights with those columns (engine/ops/conv.h's conv2d with
// groups, dilation or unequal strides runs that way). The geometry is in
// kernels/unfold_math.h.
#pragma once

#include "engine/tensor.h"

namespace ng {

// A (height, width) pair of window settings; one number means both.
struct Size2 {
  int64_t h = 1, w = 1;
  Size2() = default;
  Size2(int64_t both) : h(both), w(both) {}  // NOLINT: implicit, so `padding = 1` reads naturally
  Size2(int64_t height, int64_t width) : h(height), w(width) {}
  bool operator==(const Size2&) const = default;
};

// x [N, C, H, W] -> [N, C*kh*kw, L]: column l holds window l's pixels
// (channel-major, then kernel row, then kernel column; 0 in the padding),
// L = out_h * out_w windows with out = (in + 2 padding - dilation (k - 1) - 1) / stride + 1.
Tensor unfold(const Tensor& x, Size2 kernel, Size2 dilation = 1, Size2 padding = 0, Size2 stride = 1);
// The adjoint: cols [N, C*kh*kw, L] -> [N, C, output_size.h, output_size.w],
// each column entry added onto the pixel unfold took it from (overlapping
// windows add up; entries from the padding are dropped).
Tensor fold(const Tensor& cols, Size2 output_size, Size2 kernel, Size2 dilation = 1, Size2 padding = 0,
            Size2 stride = 1);

}  // namespace ng
