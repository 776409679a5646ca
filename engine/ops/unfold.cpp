#include "engine/ops/unfold.h"

#include "engine/autograd.h"
#include "engine/cpu/unfold.h"
#include "engine/ops/dispatch.h"

namespace ng {

using Grads = std::vector<Tensor>;

namespace {

// Checks the window settings against an image of h x w and returns the geometry (n and c left 0).
kernels::UnfoldGeometry window_geometry(const char* op, int64_t h, int64_t w, Size2 kernel, Size2 dilation,
                                        Size2 padding, Size2 stride) {
  NG_CHECK(kernel.h >= 1 && kernel.w >= 1, op, ": kernel ", kernel.h, "x", kernel.w, " must be at least 1x1");
  NG_CHECK(dilation.h >= 1 && dilation.w >= 1, op, ": dilation ", dilation.h, "x", dilation.w,
           " must be at least 1");
  NG_CHECK(padding.h >= 0 && padding.w >= 0, op, ": padding ", padding.h, "x", padding.w, " must be non-negative");
  NG_CHECK(stride.h >= 1 && stride.w >= 1, op, ": stride ", stride.h, "x", stride.w, " must be at least 1");
  const int64_t span_h = dilation.h * (kernel.h - 1) + 1, span_w = dilation.w * (kernel.w - 1) + 1;
  NG_CHECK(h + 2 * padding.h >= span_h && w + 2 * padding.w >= span_w, op, ": the window spans ", span_h, "x",
           span_w, " pixels (kernel ", kernel.h, "x", kernel.w, ", dilation ", dilation.h, "x", dilation.w,
           "), more than the ", h, "x", w, " image padded by ", padding.h, "x", padding.w);
  kernels::UnfoldGeometry g;
  g.h = h;
  g.w = w;
  g.kh = kernel.h;
  g.kw = kernel.w;
  g.stride_h = stride.h;
  g.stride_w = stride.w;
  g.pad_h = padding.h;
  g.pad_w = padding.w;
  g.dilation_h = dilation.h;
  g.dilation_w = dilation.w;
  g.out_h = (h + 2 * padding.h - span_h) / stride.h + 1;
  g.out_w = (w + 2 * padding.w - span_w) / stride.w + 1;
  return g;
}

Tensor fold_checked(const Tensor& cols, const kernels::UnfoldGeometry& g);

// unfold with the geometry checked; x contiguous.
Tensor unfold_checked(const Tensor& x, const kernels::UnfoldGeometry& g) {
  Tensor cols = empty({g.n, g.c * g.kh * g.kw, g.out_h * g.out_w}, x.options());
  if (x.device().is_cpu())
    cpu::unfold(cols, x, g);
  else
    NG_ON_CUDA("unfold", cuda::unfold(cols, x, g), x);
  return record("UnfoldBackward", cols, {x}, [g](const Tensor& gc) { return Grads{fold_checked(gc.contiguous(), g)}; });
}

Tensor fold_checked(const Tensor& cols, const kernels::UnfoldGeometry& g) {
  Tensor x = empty({g.n, g.c, g.h, g.w}, cols.options());
  if (cols.device().is_cpu())
    cpu::fold(x, cols, g);
  else
    NG_ON_CUDA("fold", cuda::fold(x, cols, g), cols);
  return record("FoldBackward", x, {cols},
                [g](const Tensor& gx) { return Grads{unfold_checked(gx.contiguous(), g)}; });
}

}  // namespace

Tensor unfold(const Tensor& x, Size2 kernel, Size2 dilation, Size2 padding, Size2 stride) {
  const char* op = "unfold";
  check_dim(op, "input", x, 4);
  kernels::UnfoldGeometry g = window_geometry(op, x.size(2), x.size(3), kernel, dilation, padding, stride);
  g.n = x.size(0);
  g.c = x.size(1);
  return unfold_checked(x.contiguous(), g);
}

Tensor fold(const Tensor& cols, Size2 output_size, Size2 kernel, Size2 dilation, Size2 padding, Size2 stride) {
  const char* op = "fold";
  check_dim(op, "input", cols, 3);
  NG_CHECK(output_size.h >= 1 && output_size.w >= 1, op, ": output size ", output_size.h, "x", output_size.w,
           " must be positive");
  kernels::UnfoldGeometry g =
      window_geometry(op, output_size.h, output_size.w, kernel, dilation, padding, stride);
  const int64_t taps = kernel.h * kernel.w;
  NG_CHECK(cols.size(1) % taps == 0, op, ": input ", shape_str(cols.shape()), " has ", cols.size(1),
           " rows, not a multiple of the kernel's ", taps, " taps");
  NG_CHECK(cols.size(2) == g.out_h * g.out_w, op, ": input ", shape_str(cols.shape()), " has ", cols.size(2),
           " columns, but a ", output_size.h, "x", output_size.w, " image has ", g.out_h, "x", g.out_w,
           " = ", g.out_h * g.out_w, " windows");
  g.n = cols.size(0);
  g.c = cols.size(1) / taps;
  return fold_checked(cols.contiguous(), g);
}

}  // namespace ng
