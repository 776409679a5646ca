// conv2d, conv_transpose2d and the two gradients of conv2d as ops.
//
// The three are one linear map seen three ways. With A_w the convolution
// x -> conv2d(x, w), conv_transpose2d(y, w) = A_w^T y, and
// conv2d_weight(x, g) = d<A_w x, g>/dw. Every backward is therefore another
// of the three (see each record() below), so gradients of any order work.
#include "engine/ops/conv.h"

#include <cmath>

#include "engine/autograd.h"
#include "engine/cpu/conv.h"
#include "engine/ops/activation.h"
#include "engine/ops/dispatch.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/linalg.h"
#include "engine/ops/pointwise_launch.h"
#include "engine/ops/reduce.h"
#include "kernels/layouts.h"

namespace ng {

using Grads = std::vector<Tensor>;

namespace {

// The output size of a convolution along one axis; `in + 2 padding >= k`.
int64_t conv_out_size(int64_t in, int64_t k, int64_t stride, int64_t padding) {
  return (in + 2 * padding - k) / stride + 1;
}

// True when an input of size `in` convolves to exactly `out` positions.
bool convolves_to(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t padding) {
  return in + 2 * padding >= k && conv_out_size(in, k, stride, padding) == out;
}

void check_stride_padding(const char* op, int64_t stride, int64_t padding) {
  NG_CHECK(stride >= 1, op, ": stride must be at least 1, got ", stride);
  NG_CHECK(padding >= 0, op, ": padding must be non-negative, got ", padding);
}

void check_weight(const char* op, const Tensor& w) {
  check_dim(op, "weight", w, 4);
  NG_CHECK(w.numel() > 0, op, ": weight ", shape_str(w.shape()), " is empty");
}

void check_bias(const char* op, const Tensor& b, const Tensor& w, int64_t channels) {
  if (!b.defined()) return;
  NG_CHECK(b.dim() == 1 && b.size(0) == channels, op, ": bias ", shape_str(b.shape()), " does not match weight ",
           shape_str(w.shape()), ": expected [", channels, "]");
}

// A per-channel bias's gradient: the output gradient summed over N, H and W.
Tensor bias_grad(const Tensor& g) { return sum(g, {0, 2, 3}); }

// conv_transpose2d with the output size given, arguments already checked:
// x [N, w.size(0), H, W] -> [N, w.size(1), out_h, out_w], where H and W are
// what conv2d makes of out_h and out_w.
Tensor transposed_conv(const Tensor& x, const Tensor& w, const Tensor& b, int64_t stride, int64_t padding,
                       int64_t out_h, int64_t out_w) {
  Tensor y = empty({x.size(0), w.size(1), out_h, out_w}, x.options());
  if (x.device().is_cpu())
    cpu::conv2d_input_grad(y, x, w, b, stride, padding);
  else
    NG_ON_CUDA("conv_transpose2d", cuda::conv2d_input_grad(y, x, w, b, stride, padding), x, w);
  const bool gx = needs_grad({x}), gw = needs_grad({w}), gb = needs_grad({b});
  return record("ConvTranspose2dBackward", y, {x, w, b},
                [sx = SavedTensor(gw ? x : Tensor()), sw = SavedTensor(gx ? w : Tensor()), gx, gw, gb, stride,
                 padding, kh = w.size(2), kw = w.size(3)](const Tensor& g) {
                  // y = A_w^T x: dx = A_w g, and dw = d<A_w g, x>/dw.
                  return Grads{gx ? conv2d(g, sw.get(), {}, stride, padding) : Tensor(),
                               gw ? conv2d_weight(g, sx.get(), kh, kw, stride, padding) : Tensor(),
                               gb ? bias_grad(g) : Tensor()};
                });
}

}  // namespace

namespace {

// conv2d's checks, then its output, allocated and computed with the
// activation `ep` applied (on a GPU in the kernel's epilogue; on the CPU by
// launch_unary on the finished output, the composite's own pass).
Tensor conv2d_forward_pass(const char* op, const Tensor& x, const Tensor& w, const Tensor& b, int64_t stride,
                           int64_t padding, const kernels::ConvEpilogue& ep) {
  check_dim(op, "input", x, 4);
  check_weight(op, w);
  check_same_dtype_device(op, {x, w, b});
  check_stride_padding(op, stride, padding);
  NG_CHECK(x.size(1) == w.size(1), op, ": input ", shape_str(x.shape()), " has ", x.size(1), " channels, weight ",
           shape_str(w.shape()), " expects ", w.size(1));
  check_bias(op, b, w, w.size(0));
  const int64_t h = x.size(2), wd = x.size(3), kh = w.size(2), kw = w.size(3);
  NG_CHECK(h + 2 * padding >= kh && wd + 2 * padding >= kw, op, ": kernel ", kh, "x", kw,
           " is larger than input ", shape_str(x.shape()), " padded by ", padding, " (", h + 2 * padding, "x",
           wd + 2 * padding, ")");

  Tensor y = empty({x.size(0), w.size(0), conv_out_size(h, kh, stride, padding),
                    conv_out_size(wd, kw, stride, padding)},
                   x.options());
  if (x.device().is_cuda()) {
    NG_ON_CUDA(op, cuda::conv2d_forward(y, x, w, b, stride, padding, ep), x, w);
    return y;
  }
  cpu::conv2d_forward(y, x, w, b, stride, padding);
  switch (ep.act) {
    case kernels::ConvActivation::relu: return launch_unary(kernels::Unary::relu, y);
    case kernels::ConvActivation::leaky_relu: return launch_unary(kernels::Unary::leaky_relu, y, ep.slope);
    case kernels::ConvActivation::silu: return launch_unary(kernels::Unary::silu, y);
    case kernels::ConvActivation::none: break;
  }
  return y;
}

// Whether conv2d(x, w, b, options) runs the conv kernels (square stride and
// padding, no dilation, one group) rather than unfold + matmul.
bool runs_the_conv_kernels(const Conv2dOptions& o) {
  return o.groups == 1 && o.dilation == Size2(1) && o.stride.h == o.stride.w && o.padding.h == o.padding.w;
}

// The gradients of y = conv2d(x, w, b) from dL/dy (conv2d's backward).
Grads conv2d_grads(const Tensor& gy, const SavedTensor& sx, const SavedTensor& sw, bool gx, bool gw, bool gb,
                   int64_t stride, int64_t padding, int64_t h, int64_t wd, int64_t kh, int64_t kw) {
  return Grads{gx ? conv2d_input(gy, sw.get(), h, wd, stride, padding) : Tensor(),
               gw ? conv2d_weight(sx.get(), gy, kh, kw, stride, padding) : Tensor(), gb ? bias_grad(gy) : Tensor()};
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, int64_t stride, int64_t padding) {
  const Tensor y = conv2d_forward_pass("conv2d", x, w, b, stride, padding, {});
  const bool gx = needs_grad({x}), gw = needs_grad({w}), gb = needs_grad({b});
  return record("Conv2dBackward", y, {x, w, b},
                [sx = SavedTensor(gw ? x : Tensor()), sw = SavedTensor(gx ? w : Tensor()), gx, gw, gb, stride,
                 padding, h = x.size(2), wd = x.size(3), kh = w.size(2), kw = w.size(3)](const Tensor& g) {
                  return conv2d_grads(g, sx, sw, gx, gw, gb, stride, padding, h, wd, kh, kw);
                });
}

namespace {

void check_fusable(ConvActivation act, double slope) {
  NG_CHECK(act == ConvActivation::relu || (std::isfinite(slope) && slope > 0),
           "conv2d_activation: a fused leaky_relu needs a finite slope > 0 (its gradient is read from the output's "
           "sign), got ",
           slope);
}

}  // namespace

Tensor conv2d_activation(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dOptions& options,
                         ConvActivation act, double slope) {
  check_fusable(act, slope);
  if (runs_the_conv_kernels(options))
    return conv2d_activation(x, w, b, options.stride.h, options.padding.h, act, slope);
  const Tensor y = conv2d(x, w, b, options);  // unfold + matmul: nothing to fuse into
  return act == ConvActivation::relu ? relu(y) : leaky_relu(y, slope);
}

Tensor conv2d_activation(const Tensor& x, const Tensor& w, const Tensor& b, int64_t stride, int64_t padding,
                         ConvActivation act, double slope) {
  const char* op = "conv2d_activation";
  check_fusable(act, slope);
  const kernels::ConvEpilogue ep{act == ConvActivation::relu ? kernels::ConvActivation::relu
                                                             : kernels::ConvActivation::leaky_relu,
                                 slope};
  const Tensor y = conv2d_forward_pass(op, x, w, b, stride, padding, ep);
  const bool gx = needs_grad({x}), gw = needs_grad({w}), gb = needs_grad({b});
  // The activation's derivative from the output: relu(v) > 0 and, for a
  // slope > 0, leaky_relu(v) > 0 exactly when v > 0, so the mask is the one
  // relu and leaky_relu take from their input (the same bits).
  return record(act == ConvActivation::relu ? "Conv2dReluBackward" : "Conv2dLeakyReluBackward", y, {x, w, b},
                [sx = SavedTensor(gw ? x : Tensor()), sw = SavedTensor(gx ? w : Tensor()),
                 sy = SavedTensor::output(y), act, slope, gx, gw, gb, stride, padding, h = x.size(2),
                 wd = x.size(3), kh = w.size(2), kw = w.size(3)](const Tensor& g) {
                  const Tensor mask = act == ConvActivation::relu
                                          ? launch_unary(kernels::Unary::step, sy.get())
                                          : launch_unary(kernels::Unary::leaky_relu_slope, sy.get(), slope);
                  return conv2d_grads(g * mask, sx, sw, gx, gw, gb, stride, padding, h, wd, kh, kw);
                });
}

Tensor conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor& b, int64_t stride, int64_t padding,
                        int64_t output_padding) {
  const char* op = "conv_transpose2d";
  check_dim(op, "input", x, 4);
  check_weight(op, w);
  check_same_dtype_device(op, {x, w, b});
  check_stride_padding(op, stride, padding);
  NG_CHECK(output_padding >= 0 && output_padding < stride, op, ": output_padding ", output_padding,
           " must be at least 0 and smaller than the stride ", stride);
  NG_CHECK(x.size(1) == w.size(0), op, ": input ", shape_str(x.shape()), " has ", x.size(1),
           " channels, weight ", shape_str(w.shape()), " expects ", w.size(0));
  check_bias(op, b, w, w.size(1));
  const int64_t out_h = (x.size(2) - 1) * stride - 2 * padding + w.size(2) + output_padding;
  const int64_t out_w = (x.size(3) - 1) * stride - 2 * padding + w.size(3) + output_padding;
  NG_CHECK(x.size(2) >= 1 && x.size(3) >= 1 && out_h >= 1 && out_w >= 1, op, ": input ", shape_str(x.shape()),
           " with weight ", shape_str(w.shape()), ", stride ", stride, " and padding ", padding,
           " gives an empty output (", out_h, "x", out_w, ")");
  return transposed_conv(x, w, b, stride, padding, out_h, out_w);
}

Tensor conv2d_input(const Tensor& grad_out, const Tensor& w, int64_t in_h, int64_t in_w, int64_t stride,
                    int64_t padding) {
  const char* op = "conv2d_input";
  check_dim(op, "grad_out", grad_out, 4);
  check_weight(op, w);
  check_same_dtype_device(op, {grad_out, w});
  check_stride_padding(op, stride, padding);
  NG_CHECK(grad_out.size(1) == w.size(0), op, ": grad_out ", shape_str(grad_out.shape()), " has ",
           grad_out.size(1), " channels, weight ", shape_str(w.shape()), " produces ", w.size(0));
  NG_CHECK(convolves_to(in_h, grad_out.size(2), w.size(2), stride, padding) &&
               convolves_to(in_w, grad_out.size(3), w.size(3), stride, padding),
           op, ": grad_out ", shape_str(grad_out.shape()), " is not what an input of size ", in_h, "x", in_w,
           " convolves to with weight ", shape_str(w.shape()), ", stride ", stride, " and padding ", padding);
  return transposed_conv(grad_out, w, {}, stride, padding, in_h, in_w);
}

Tensor conv2d_weight(const Tensor& x, const Tensor& grad_out, int64_t kh, int64_t kw, int64_t stride,
                     int64_t padding) {
  const char* op = "conv2d_weight";
  check_dim(op, "input", x, 4);
  check_dim(op, "grad_out", grad_out, 4);
  check_same_dtype_device(op, {x, grad_out});
  check_stride_padding(op, stride, padding);
  NG_CHECK(kh >= 1 && kw >= 1, op, ": kernel size must be positive, got ", kh, "x", kw);
  NG_CHECK(x.size(0) == grad_out.size(0), op, ": input ", shape_str(x.shape()), " and grad_out ",
           shape_str(grad_out.shape()), " have different batch sizes");
  const int64_t h = x.size(2), wd = x.size(3);
  NG_CHECK(convolves_to(h, grad_out.size(2), kh, stride, padding) &&
               convolves_to(wd, grad_out.size(3), kw, stride, padding),
           op, ": grad_out ", shape_str(grad_out.shape()), " is not what input ", shape_str(x.shape()),
           " convolves to with a ", kh, "x", kw, " kernel, stride ", stride, " and padding ", padding);

  Tensor dw = empty({grad_out.size(1), x.size(1), kh, kw}, x.options());
  if (x.device().is_cpu())
    cpu::conv2d_weight_grad(dw, x, grad_out, stride, padding);
  else
    NG_ON_CUDA(op, cuda::conv2d_weight_grad(dw, x, grad_out, stride, padding), x, grad_out);
  const bool gx = needs_grad({x}), gg = needs_grad({grad_out});
  return record("Conv2dWeightBackward", dw, {x, grad_out},
                [sx = SavedTensor(gg ? x : Tensor()), sg = SavedTensor(gx ? grad_out : Tensor()), gx, gg, stride,
                 padding, h, wd](const Tensor& gw) {
                  // dw = sum g (x) patches(x) is bilinear: <gw, dw> = <g, conv2d(x, gw)>.
                  return Grads{gx ? conv2d_input(sg.get(), gw, h, wd, stride, padding) : Tensor(),
                               gg ? conv2d(sx.get(), gw, {}, stride, padding) : Tensor()};
                });
}

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dOptions& o) {
  const char* op = "conv2d";
  check_dim(op, "input", x, 4);
  check_weight(op, w);
  check_same_dtype_device(op, {x, w, b});
  const int64_t groups = o.groups, cout = w.size(0);
  NG_CHECK(groups >= 1, op, ": groups must be at least 1, got ", groups);
  NG_CHECK(x.size(1) == w.size(1) * groups, op, ": input ", shape_str(x.shape()), " has ", x.size(1),
           " channels, weight ", shape_str(w.shape()), " with ", groups, " groups expects ", w.size(1) * groups);
  NG_CHECK(cout % groups == 0, op, ": weight ", shape_str(w.shape()), " has ", cout,
           " output channels, not divisible into ", groups, " groups");
  check_bias(op, b, w, cout);
  NG_CHECK(o.stride.h >= 1 && o.stride.w >= 1, op, ": stride ", o.stride.h, "x", o.stride.w, " must be at least 1");
  NG_CHECK(o.padding.h >= 0 && o.padding.w >= 0, op, ": padding ", o.padding.h, "x", o.padding.w,
           " must be non-negative");
  NG_CHECK(o.dilation.h >= 1 && o.dilation.w >= 1, op, ": dilation ", o.dilation.h, "x", o.dilation.w,
           " must be at least 1");
  const int64_t span_h = o.dilation.h * (w.size(2) - 1) + 1, span_w = o.dilation.w * (w.size(3) - 1) + 1;
  NG_CHECK(x.size(2) + 2 * o.padding.h >= span_h && x.size(3) + 2 * o.padding.w >= span_w, op, ": weight ",
           shape_str(w.shape()), " with dilation ", o.dilation.h, "x", o.dilation.w, " spans ", span_h, "x", span_w,
           " pixels, more than input ", shape_str(x.shape()), " padded by ", o.padding.h, "x", o.padding.w);
  if (runs_the_conv_kernels(o)) return conv2d(x, w, b, o.stride.h, o.padding.h);

  // Every window as a column, then each group's weights times its columns:
  // [G, Cout/G, K] @ [N, G, K, L] -> [N, G, Cout/G, L], K = Cin/G * kh * kw.
  const Tensor cols = unfold(x, {w.size(2), w.size(3)}, o.dilation, o.padding, o.stride);
  const int64_t n = x.size(0), k = w.size(1) * w.size(2) * w.size(3), positions = cols.size(2);
  const Tensor y = matmul(w.reshape({groups, cout / groups, k}), cols.reshape({n, groups, k, positions}));
  const int64_t out_h = (x.size(2) + 2 * o.padding.h - span_h) / o.stride.h + 1;
  const int64_t out_w = (x.size(3) + 2 * o.padding.w - span_w) / o.stride.w + 1;
  const Tensor out = y.reshape({n, cout, out_h, out_w});
  return b.defined() ? out + b.reshape({1, cout, 1, 1}) : out;
}

}  // namespace ng
