// CPU convolution kernels: im2col + GEMM (OpenBLAS) + col2im, and for the
// forward and input gradient of 3x3 stride-1 padding-1 convolutions,
// Winograd's F(2x2, 3x3) (engine/cpu/winograd.h).
//
// One convolution, three products. With x [N,Cin,H,W], w [Cout,Cin,kh,kw],
// y [N,Cout,Ho,Wo], Ho = (H + 2 padding - kh) / stride + 1 (Wo likewise), and
// im2col(x) the [Cin*kh*kw, Ho*Wo] matrix whose column p holds the (zero
// padded) input patch that output pixel p sees:
//
//   forward       y[n]  = W * im2col(x[n])              (+ b per channel)
//   input grad    dx[n] = col2im(W^T * dy[n])           (+ b: conv_transpose2d)
//   weight grad   dW    = sum_n dy[n] * im2col(x[n])^T
//
// W is w viewed as [Cout, Cin*kh*kw]; col2im is the adjoint of im2col (it adds
// every column entry back into the pixel it was read from). The CUDA backend
// mirrors these three as implicit GEMMs with the same signatures.
//
// Every kernel takes its output preallocated and contiguous, reads the
// geometry (N, channels, kh, kw, sizes) from the operands' shapes, accepts
// inputs with any strides, and handles float32 and float64. The shapes must
// already be consistent (the ops in engine/ops/conv.cpp check them).
#pragma once

#include <cstdint>

#include "engine/tensor.h"

namespace ng::cpu {

// y [N,Cout,Ho,Wo] = conv2d(x [N,Cin,H,W], w [Cout,Cin,kh,kw]) + b [Cout] (b may be undefined).
void conv2d_forward(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor& b, int64_t stride,
                    int64_t padding);

// dx [N,Cin,H,W] = d<conv2d(x, w), dy>/dx for dy [N,Cout,Ho,Wo], plus b [Cin]
// per channel when b is defined. H and W are taken from dx, so they may be any
// size whose convolution gives Ho x Wo (this is conv_transpose2d's forward,
// output_padding included).
void conv2d_input_grad(const Tensor& dx, const Tensor& dy, const Tensor& w, const Tensor& b, int64_t stride,
                       int64_t padding);

// dw [Cout,Cin,kh,kw] = d<conv2d(x, w), dy>/dw for x [N,Cin,H,W], dy [N,Cout,Ho,Wo].
void conv2d_weight_grad(const Tensor& dw, const Tensor& x, const Tensor& dy, int64_t stride, int64_t padding);

}  // namespace ng::cpu
