#include "engine/ops/linalg.h"

#include "engine/autograd.h"
#include "engine/cpu/gemm.h"
#include "engine/ops/dispatch.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/reduce.h"

namespace ng {

using Grads = std::vector<Tensor>;

namespace {

// The GEMM backends read a matrix through a transpose flag and a leading
// dimension, so any view with a unit stride in one of its two matrix dims
// (such as w.t()) goes in as it is; only the rare one with none is copied.
Tensor blas_ready(const Tensor& t) { return cpu::blas_compatible(t) ? t : t.contiguous(); }

// out = a @ b + beta * out; a and b are blas_ready and broadcast to out's batch.
void launch_gemm(const char* op, const Tensor& out, const Tensor& a, const Tensor& b, double beta) {
  if (out.device().is_cpu())
    cpu::gemm(out, a, b, beta);
  else
    NG_ON_CUDA(op, cuda::gemm(out, a, b, beta), a, b);
}

Shape append(Shape s, std::initializer_list<int64_t> tail) {
  s.insert(s.end(), tail);
  return s;
}

// a[..., M, K] @ b[..., K, N] for operands of 2+ dims whose batch dims
// broadcast. The forward runs one GEMM per batch entry on broadcast views (no
// copies); the backward is written with matmul itself, so it is
// differentiable again: dA = g @ B^T, dB = A^T @ g, summed over the batch
// dims that were broadcast.
Tensor batched_matmul(const char* op, const Tensor& a, const Tensor& b) {
  const int64_t m = a.size(-2), k = a.size(-1), n = b.size(-1);
  const Shape batch_a(a.shape().begin(), a.shape().end() - 2), batch_b(b.shape().begin(), b.shape().end() - 2);
  const size_t nb = std::max(batch_a.size(), batch_b.size());
  Shape batch(nb);
  for (size_t i = 0; i < nb; ++i) {
    const int64_t da = i < nb - batch_a.size() ? 1 : batch_a[i - (nb - batch_a.size())];
    const int64_t db = i < nb - batch_b.size() ? 1 : batch_b[i - (nb - batch_b.size())];
    NG_CHECK(da == db || da == 1 || db == 1, op, ": batch dims of ", shape_str(a.shape()), " and ",
             shape_str(b.shape()), " cannot be broadcast (", da, " vs ", db, ")");
    batch[i] = da == 1 ? db : da;
  }
  Tensor out = empty(append(batch, {m, n}), a.options());
  {
    NoGradGuard no_grad;
    launch_gemm(op, out, blas_ready(a.detach()).expand(append(batch, {m, k})),
                blas_ready(b.detach()).expand(append(batch, {k, n})), 0.0);
  }
  const bool ga = needs_grad({a}), gb = needs_grad({b});
  return record("MatmulBackward", out, {a, b},
                [sa = SavedTensor(gb ? a : Tensor()), sb = SavedTensor(ga ? b : Tensor()), ga, gb,
                 shape_a = a.shape(), shape_b = b.shape()](const Tensor& g) {
                  Tensor da, db;
                  if (ga) da = sum_to(matmul(g, sb.get().transpose(-1, -2)), shape_a);
                  if (gb) db = sum_to(matmul(sa.get().transpose(-1, -2), g), shape_b);
                  return Grads{da, db};
                });
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  NG_CHECK(a.defined() && b.defined(), "matmul: an operand is undefined");
  NG_CHECK(a.dim() >= 1 && b.dim() >= 1, "matmul: both operands need at least 1 dim, got ", shape_str(a.shape()),
           " and ", shape_str(b.shape()));
  check_same_dtype_device("matmul", {a, b});
  const int64_t ka = a.size(-1), kb = b.dim() == 1 ? b.size(0) : b.size(-2);
  NG_CHECK(ka == kb, "matmul: shapes ", shape_str(a.shape()), " and ", shape_str(b.shape()),
           " cannot be multiplied (", ka, " != ", kb, ")");

  // A vector on the left is a row [1,K], on the right a column [K,1]; the
  // added dim is removed from the result again.
  if (a.dim() == 1 && b.dim() == 1) return matmul(a.unsqueeze(0), b.unsqueeze(1)).view({});
  if (a.dim() == 1) return matmul(a.unsqueeze(0), b).squeeze(-2);
  if (b.dim() == 1) return matmul(a, b.unsqueeze(1)).squeeze(-1);
  // A batch of matrices times one matrix is one tall GEMM: fold the batch
  // into rows (a view when a is contiguous). Its backward dB is then one GEMM
  // too, instead of a batch of products summed afterwards.
  if (a.dim() > 2 && b.dim() == 2) {
    Shape out_shape = a.shape();
    out_shape.back() = b.size(1);
    return batched_matmul("matmul", a.reshape({-1, ka}), b).view(out_shape);
  }
  return batched_matmul("matmul", a, b);
}

Tensor bmm(const Tensor& a, const Tensor& b) {
  NG_CHECK(a.defined() && b.defined(), "bmm: an operand is undefined");
  check_dim("bmm", "the first operand", a, 3);
  check_dim("bmm", "the second operand", b, 3);
  check_same_dtype_device("bmm", {a, b});
  NG_CHECK(a.size(0) == b.size(0), "bmm: batch sizes of ", shape_str(a.shape()), " and ", shape_str(b.shape()),
           " differ (", a.size(0), " != ", b.size(0), ")");
  NG_CHECK(a.size(2) == b.size(1), "bmm: shapes ", shape_str(a.shape()), " and ", shape_str(b.shape()),
           " cannot be multiplied (", a.size(2), " != ", b.size(1), ")");
  return batched_matmul("bmm", a, b);
}

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  NG_CHECK(x.defined() && w.defined(), "linear: input or weight is undefined");
  check_dim("linear", "weight", w, 2);
  const int64_t in = w.size(1), out_features = w.size(0);
  NG_CHECK(x.dim() >= 1 && x.size(-1) == in, "linear: input ", shape_str(x.shape()), " has ",
           x.dim() >= 1 ? x.size(-1) : 0, " features, weight ", shape_str(w.shape()), " expects ", in);
  NG_CHECK(!b.defined() || (b.dim() == 1 && b.size(0) == out_features), "linear: bias ", shape_str(b.shape()),
           " does not match weight ", shape_str(w.shape()), " (expected [", out_features, "])");
  check_same_dtype_device("linear", {x, w, b});

  // x[..., in] is used as one [rows, in] matrix: a view when x is contiguous.
  const int64_t rows = shape_numel(Shape(x.shape().begin(), x.shape().end() - 1));
  Shape out_shape = x.shape();
  out_shape.back() = out_features;
  Tensor out = empty({rows, out_features}, x.options());
  {
    NoGradGuard no_grad;
    // The bias seeds the output and the GEMM adds x @ w^T on top (beta = 1),
    // which saves a pass over the output; w^T is a view BLAS reads transposed.
    if (b.defined()) out.copy_(b.detach());
    launch_gemm("linear", out, blas_ready(x.detach().reshape({rows, in})), blas_ready(w.detach()).t(),
                b.defined() ? 1.0 : 0.0);
  }
  out = out.view(out_shape);
  const bool gx = needs_grad({x}), gw = needs_grad({w}), gb = needs_grad({b});
  return record("LinearBackward", out, {x, w, b},
                [sx = SavedTensor(gw ? x : Tensor()), sw = SavedTensor(gx ? w : Tensor()), gx, gw, gb,
                 x_shape = x.shape(), rows, in, out_features](const Tensor& g) {
                  const Tensor g2 = g.reshape({rows, out_features});
                  Tensor dx, dw, db;
                  if (gx) dx = matmul(g2, sw.get()).view(x_shape);                     // g @ W
                  if (gw) dw = matmul(g2.t(), sx.get().reshape({rows, in}));           // g^T @ x
                  if (gb) db = sum(g2, {0});                                           // over all rows
                  return Grads{dx, dw, db};
                });
}

}  // namespace ng
