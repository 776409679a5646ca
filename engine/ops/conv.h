// 2-D convolutions in NCHW, differentiable in input, weight and bias, to any
// order (gradient penalties differentiate through the backward).
#pragma once

#include "engine/ops/unfold.h"
#include "engine/tensor.h"

namespace ng {

// The settings of a general convolution, as in torch.nn.functional.conv2d:
// (height, width) stride, zero padding and dilation (the kernel's taps
// `dilation` pixels apart), and groups (input and output channels split into
// `groups` independent convolutions; groups = channels is a depthwise one).
struct Conv2dOptions {
  Size2 stride = 1, padding = 0, dilation = 1;
  int64_t groups = 1;
};

// x [N,Cin,H,W], w [Cout,Cin,kh,kw], b [Cout] or undefined.
// Output [N,Cout,(H+2p-kh)/s+1,(W+2p-kw)/s+1].
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b = {}, int64_t stride = 1, int64_t padding = 0);
// act(conv2d(x, w, b, stride, padding)) as one op, for the activations that
// follow a convolution in the VAE, the GAN and the evaluation classifier
// (nn::Sequential fuses a Conv2d followed by ReLU or LeakyReLU into it). On a GPU the forward kernel applies
// the activation before it stores y, so the pre-activation is neither written
// nor read again, and the backward takes the activation's mask from the
// output. Bit for bit relu(conv2d(...)) / leaky_relu(conv2d(...), slope) on
// either device, gradients of every order included. leaky_relu needs a
// finite slope > 0 (then the output's sign is the input's).
enum class ConvActivation { relu, leaky_relu };
Tensor conv2d_activation(const Tensor& x, const Tensor& w, const Tensor& b, int64_t stride, int64_t padding,
                         ConvActivation act, double slope = 0.01);
// The general convolution: w [Cout, Cin/groups, kh, kw], output
// [N, Cout, out_h, out_w] with out = (in + 2 padding - dilation (k - 1) - 1) / stride + 1.
// Square settings with dilation 1 and one group run the kernels above;
// anything else is unfold + one (grouped) matrix product, which follows the
// matmul precision in force (engine/precision.h) and differentiates through
// unfold and matmul.
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dOptions& options);
// act(conv2d(x, w, b, options)): conv2d_activation above where the options
// take the conv kernels, else the two ops (the same bits either way).
Tensor conv2d_activation(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dOptions& options,
                         ConvActivation act, double slope = 0.01);

// The adjoint of conv2d (PyTorch's ConvTranspose2d): x [N,Cin,H,W],
// w [Cin,Cout,kh,kw], b [Cout] or undefined. Output
// [N,Cout,(H-1)s-2p+kh+output_padding, (W-1)s-2p+kw+output_padding].
Tensor conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor& b = {}, int64_t stride = 1,
                        int64_t padding = 0, int64_t output_padding = 0);

// The two gradients of conv2d as differentiable ops (as torch.nn.grad's
// conv2d_input / conv2d_weight); conv2d's and conv_transpose2d's backward
// are written with them.
//
// d<conv2d(x, w), grad_out>/dx for an input x of spatial size in_h x in_w:
// grad_out [N,Cout,Ho,Wo], w [Cout,Cin,kh,kw] -> [N,Cin,in_h,in_w]. It is
// conv_transpose2d with the output size given (each of in_h, in_w may be any
// size whose convolution has Ho, Wo pixels), so it is exact for odd sizes too.
Tensor conv2d_input(const Tensor& grad_out, const Tensor& w, int64_t in_h, int64_t in_w, int64_t stride = 1,
                    int64_t padding = 0);
// d<conv2d(x, w), grad_out>/dw for a kh x kw kernel: x [N,Cin,H,W],
// grad_out [N,Cout,Ho,Wo] -> [Cout,Cin,kh,kw]. Bilinear in x and grad_out.
Tensor conv2d_weight(const Tensor& x, const Tensor& grad_out, int64_t kh, int64_t kw, int64_t stride = 1,
                     int64_t padding = 0);

}  // namespace ng
