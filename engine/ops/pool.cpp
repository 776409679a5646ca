// avg_pool2d and upsample_nearest2d, each paired with its adjoint: the
// backward of one is the other, so gradients of any order work.
//   avg_pool2d          <-> avg_pool2d_grad  (spread g / k^2 over each window)
//   upsample_nearest2d  <-> sum_pool2d       (sum each s x s block)
//   max_pool_select     <-> max_pool_scatter (pick each window's argmax of x /
//                                             add g back to it)
// max_pool2d(x) is max_pool_select(x, x): x chooses the elements and
// supplies their values. Only the values carry a gradient; the choice is
// piecewise constant in x, so the selector is saved as data (an in-place
// change of x before the backward is refused, as for any saved tensor) and
// is no input of the recorded nodes.
#include "engine/ops/pool.h"

#include <algorithm>
#include <vector>

#include "engine/autograd.h"
#include "engine/cpu/pool.h"
#include "engine/ops/dispatch.h"
#include "engine/ops/linalg.h"
#include "engine/precision.h"

namespace ng {

using Grads = std::vector<Tensor>;

namespace {

// The adjoint of avg_pool2d: g [N,C,Ho,Wo] -> [N,C,h,w].
Tensor avg_pool2d_grad(const Tensor& g, int64_t kernel, int64_t stride, int64_t padding, int64_t h, int64_t w) {
  Tensor dx = empty({g.size(0), g.size(1), h, w}, g.options());
  if (g.device().is_cpu())
    cpu::avg_pool2d_backward(dx, g, kernel, stride, padding);
  else
    NG_ON_CUDA("avg_pool2d", cuda::avg_pool2d_backward(dx, g, kernel, stride, padding), g);
  return record("AvgPool2dGradBackward", dx, {g}, [kernel, stride, padding](const Tensor& gg) {
    return Grads{avg_pool2d(gg, kernel, stride, padding)};
  });
}

// The adjoint of upsample_nearest2d: g [N,C,H*s,W*s] -> [N,C,H,W].
Tensor sum_pool2d(const Tensor& g, int64_t scale) {
  Tensor dx = empty({g.size(0), g.size(1), g.size(2) / scale, g.size(3) / scale}, g.options());
  if (g.device().is_cpu())
    cpu::upsample_nearest2d_backward(dx, g, scale);
  else
    NG_ON_CUDA("upsample_nearest2d", cuda::upsample_nearest2d_backward(dx, g, scale), g);
  return record("SumPool2dBackward", dx, {g},
                [scale](const Tensor& gg) { return Grads{upsample_nearest2d(gg, scale)}; });
}

// Checks a pooling's arguments (stride 0 becomes the kernel) and returns the output's height and width.
std::pair<int64_t, int64_t> pooled_size(const char* op, const Tensor& x, int64_t kernel, int64_t& stride,
                                        int64_t padding) {
  check_dim(op, "input", x, 4);
  NG_CHECK(kernel >= 1, op, ": kernel must be at least 1, got ", kernel);
  NG_CHECK(stride >= 0, op, ": stride must be non-negative (0 means the kernel size), got ", stride);
  if (stride == 0) stride = kernel;
  NG_CHECK(padding >= 0 && 2 * padding <= kernel, op, ": padding ", padding,
           " must be between 0 and half the kernel ", kernel);
  const int64_t h = x.size(2), w = x.size(3);
  NG_CHECK(h + 2 * padding >= kernel && w + 2 * padding >= kernel, op, ": kernel ", kernel, "x", kernel,
           " is larger than input ", shape_str(x.shape()), " padded by ", padding);
  return {(h + 2 * padding - kernel) / stride + 1, (w + 2 * padding - kernel) / stride + 1};
}

Tensor max_pool_scatter(const Tensor& selector, const Tensor& g, int64_t kernel, int64_t stride, int64_t padding);

// v's elements at the argmax of each window of `selector` (both [N,C,H,W]).
Tensor max_pool_select(const Tensor& selector, const Tensor& v, int64_t kernel, int64_t stride, int64_t padding,
                       int64_t out_h, int64_t out_w) {
  Tensor out = empty({v.size(0), v.size(1), out_h, out_w}, v.options());
  if (v.device().is_cpu())
    cpu::max_pool2d_select(out, selector, v, kernel, stride, padding);
  else
    NG_ON_CUDA("max_pool2d", cuda::max_pool2d_select(out, selector, v, kernel, stride, padding), selector, v);
  return record("MaxPool2dBackward", out, {v}, [ss = SavedTensor(selector), kernel, stride, padding](const Tensor& g) {
    return Grads{max_pool_scatter(ss.get(), g, kernel, stride, padding)};
  });
}

// g [N,C,Ho,Wo] added back to the argmax of each window of `selector`: [N,C,H,W].
Tensor max_pool_scatter(const Tensor& selector, const Tensor& g, int64_t kernel, int64_t stride, int64_t padding) {
  Tensor dx = empty(selector.shape(), g.options());
  if (g.device().is_cpu())
    cpu::max_pool2d_scatter(dx, selector, g, kernel, stride, padding);
  else
    NG_ON_CUDA("max_pool2d backward", cuda::max_pool2d_scatter(dx, selector, g, kernel, stride, padding), selector, g);
  const int64_t out_h = g.size(2), out_w = g.size(3);
  return record("MaxPool2dGradBackward", dx, {g},
                [ss = SavedTensor(selector), kernel, stride, padding, out_h, out_w](const Tensor& gg) {
                  return Grads{max_pool_select(ss.get(), gg, kernel, stride, padding, out_h, out_w)};
                });
}

}  // namespace

Tensor max_pool2d(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding) {
  const auto [out_h, out_w] = pooled_size("max_pool2d", x, kernel, stride, padding);
  return max_pool_select(x, x, kernel, stride, padding, out_h, out_w);
}

Tensor avg_pool2d(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding) {
  const char* op = "avg_pool2d";
  const auto [out_h, out_w] = pooled_size(op, x, kernel, stride, padding);
  const int64_t h = x.size(2), w = x.size(3);
  Tensor out = empty({x.size(0), x.size(1), out_h, out_w}, x.options());
  if (x.device().is_cpu())
    cpu::avg_pool2d_forward(out, x, kernel, stride, padding);
  else
    NG_ON_CUDA(op, cuda::avg_pool2d_forward(out, x, kernel, stride, padding), x);
  return record("AvgPool2dBackward", out, {x}, [kernel, stride, padding, h, w](const Tensor& g) {
    return Grads{avg_pool2d_grad(g, kernel, stride, padding, h, w)};
  });
}

namespace {

// The [out, in] matrix of 1-d linear interpolation: row o holds 1 - t and t
// at the two inputs around o's source coordinate (PyTorch's
// area_pixel_compute_source_index: with align_corners the corners' centres
// meet, else the pixel edges do and a negative coordinate is clamped to 0).
Tensor linear_interpolation_matrix(int64_t in, int64_t out, bool align_corners, TensorOptions opts) {
  std::vector<double> a(size_t(out * in), 0.0);
  for (int64_t o = 0; o < out; ++o) {
    double src;
    if (align_corners)
      src = out > 1 ? double(o) * double(in - 1) / double(out - 1) : 0.0;
    else
      src = std::max(0.0, (double(o) + 0.5) * double(in) / double(out) - 0.5);
    const int64_t i0 = std::min(int64_t(src), in - 1), i1 = std::min(i0 + 1, in - 1);
    const double t = src - double(i0);
    a[size_t(o * in + i0)] += 1.0 - t;
    a[size_t(o * in + i1)] += t;
  }
  return from_vector(a, {out, in}, opts);
}

}  // namespace

Tensor upsample_bilinear2d(const Tensor& x, int64_t out_h, int64_t out_w, bool align_corners) {
  const char* op = "upsample_bilinear2d";
  check_dim(op, "input", x, 4);
  NG_CHECK(out_h >= 1 && out_w >= 1, op, ": the output size ", out_h, "x", out_w, " must be positive");
  NG_CHECK(x.size(2) >= 1 && x.size(3) >= 1, op, ": input ", shape_str(x.shape()), " has an empty image");
  const TensorOptions opts = x.options();
  const Tensor a_h = linear_interpolation_matrix(x.size(2), out_h, align_corners, opts);
  const Tensor a_w = linear_interpolation_matrix(x.size(3), out_w, align_corners, opts);
  MatmulPrecisionGuard exact(MatmulPrecision::fp32);
  return matmul(a_h, matmul(x, a_w.transpose(0, 1)));  // [out_h,H] @ [N,C,H,out_w]
}

Tensor upsample_nearest2d(const Tensor& x, int64_t scale) {
  const char* op = "upsample_nearest2d";
  check_dim(op, "input", x, 4);
  NG_CHECK(scale >= 1, op, ": scale must be at least 1, got ", scale);
  Tensor out = empty({x.size(0), x.size(1), x.size(2) * scale, x.size(3) * scale}, x.options());
  if (x.device().is_cpu())
    cpu::upsample_nearest2d_forward(out, x, scale);
  else
    NG_ON_CUDA(op, cuda::upsample_nearest2d_forward(out, x, scale), x);
  return record("UpsampleNearest2dBackward", out, {x},
                [scale](const Tensor& g) { return Grads{sum_pool2d(g, scale)}; });
}

}  // namespace ng
