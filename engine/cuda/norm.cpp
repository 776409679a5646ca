// Batch / group / layer norm on the GPU. The forward is one launcher; the
// backward is the per-row sums, then the weight and bias gradients as column
// sums of those (the deterministic reduce kernels, in double, then rounded
// to the parameters' dtype), then the input gradient.
#include "engine/cuda/backend.h"
#include "engine/cuda/runtime.h"
#include "engine/cuda/workspace.h"
#include "engine/error.h"
#include "kernels/norm.h"

namespace ng::cuda {

namespace {

const void* data_or_null(const Tensor& t) { return t.defined() ? t.raw_data() : nullptr; }

// out (a [C] parameter gradient, any shape of C elements) = the sum over n
// of rows [N, C] (float64), rounded to out's dtype.
void column_sums(const Tensor& out, const Tensor& rows) {
  const Tensor sums = empty({1, rows.size(1)}, rows.options());
  cuda::reduce(kernels::ReduceOp::sum, sums, rows, {true, false});
  Tensor(out).view({1, rows.size(1)}).copy_(sums);
}

}  // namespace

void norm_forward(const kernels::NormLayout& l, const Tensor& x, const Tensor& weight, const Tensor& bias, double eps,
                  const Tensor& y, const Tensor& mean, const Tensor& rstd, const Tensor& var,
                  kernels::NormEpilogue epilogue) {
  NG_CHECK(x.is_contiguous() && y.is_contiguous(), "norm: the CUDA kernel needs a contiguous input, got ",
           shape_str(x.shape()));
  const kernels::ScalarType t = scalar_type(x.dtype());
  const size_t bytes = kernels::norm_forward_workspace_bytes(t, l);
  const Tensor ws = bytes ? workspace(bytes, x.device()) : Tensor();
  kernels::launch_norm_forward(t, l, x.raw_data(), data_or_null(weight), data_or_null(bias), eps, epilogue,
                               y.raw_data(), mean.raw_data(), rstd.raw_data(), var.defined() ? var.raw_data() : nullptr,
                               ws.defined() ? ws.raw_data() : nullptr, stream(x.device()));
}

void norm_silu_grad(const kernels::NormLayout& l, const Tensor& gz, const Tensor& x, const Tensor& weight,
                    const Tensor& bias, const Tensor& mean, const Tensor& rstd, const Tensor& gy) {
  NG_CHECK(gz.is_contiguous() && x.is_contiguous() && gy.is_contiguous(),
           "norm silu grad: the CUDA kernel needs contiguous tensors, got ", shape_str(gz.shape()), " and ",
           shape_str(x.shape()));
  kernels::launch_norm_silu_grad(scalar_type(x.dtype()), l, gz.raw_data(), x.raw_data(), data_or_null(weight),
                                 data_or_null(bias), mean.raw_data(), rstd.raw_data(), gy.raw_data(),
                                 stream(x.device()));
}

void norm_backward(const kernels::NormLayout& l, const Tensor& gy, const Tensor& x, const Tensor& mean,
                   const Tensor& rstd, const Tensor& weight, const Tensor& gx, const Tensor& gw, const Tensor& gb) {
  NG_CHECK(gy.is_contiguous() && x.is_contiguous(), "norm backward: the CUDA kernel needs contiguous tensors, got ",
           shape_str(gy.shape()), " and ", shape_str(x.shape()));
  if (!gx.defined() && !gw.defined() && !gb.defined()) return;
  const kernels::ScalarType t = scalar_type(x.dtype());
  const TensorOptions f64 = TensorOptions{}.with_dtype(DType::f64).with_device(x.device());
  const Tensor row_g = empty({l.N, l.C}, f64), row_gxhat = empty({l.N, l.C}, f64);
  kernels::launch_norm_backward_rows(t, l, gy.raw_data(), x.raw_data(), mean.raw_data(), rstd.raw_data(),
                                     row_g.data<double>(), row_gxhat.data<double>(), stream(x.device()));
  if (gb.defined()) column_sums(gb, row_g);
  if (gw.defined()) column_sums(gw, row_gxhat);
  if (gx.defined()) {
    const Tensor coeffs = empty({2 * l.num_stats()}, f64);
    kernels::launch_norm_backward_input(t, l, gy.raw_data(), x.raw_data(), mean.raw_data(), rstd.raw_data(),
                                        data_or_null(weight), row_g.data<double>(), row_gxhat.data<double>(),
                                        coeffs.data<double>(), gx.raw_data(), stream(x.device()));
  }
}

}  // namespace ng::cuda
