#include "engine/ops/reduce.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/autograd.h"
#include "engine/cpu/reduce.h"
#include "engine/ops/dispatch.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/pointwise_launch.h"

namespace ng {

using Grads = std::vector<Tensor>;

namespace {

// Which dims are reduced; an empty list means all of them.
std::vector<bool> reduced_mask(const char* op, const Tensor& x, const std::vector<int64_t>& dims) {
  std::vector<bool> r(size_t(x.dim()), dims.empty());
  for (int64_t d : dims) {
    const int64_t w = wrap_dim(op, d, x.dim());
    NG_CHECK(!r[w] || dims.empty(), op, ": dim ", d, " is listed twice");
    r[w] = true;
  }
  return r;
}

Shape keepdim_shape(const Tensor& x, const std::vector<bool>& reduced) {
  Shape s = x.shape();
  for (size_t d = 0; d < s.size(); ++d)
    if (reduced[d]) s[d] = 1;
  return s;
}

Shape final_shape(const Tensor& x, const std::vector<bool>& reduced, bool keepdim) {
  if (keepdim) return keepdim_shape(x, reduced);
  Shape s;
  for (size_t d = 0; d < reduced.size(); ++d)
    if (!reduced[d]) s.push_back(x.shape()[d]);
  return s;
}

Tensor launch_reduce(const char* op, kernels::ReduceOp kind, const Tensor& x, const std::vector<bool>& reduced) {
  Tensor out = empty(keepdim_shape(x, reduced), x.options());
  if (x.device().is_cpu())
    cpu::reduce(kind, out, x, reduced);
  else
    NG_ON_CUDA(op, cuda::reduce(kind, out, x, reduced), x);
  return out;
}

Tensor extremum(const char* op, kernels::ReduceOp kind, const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  const std::vector<bool> red = reduced_mask(op, x, dims);
  for (size_t d = 0; d < red.size(); ++d)
    NG_CHECK(!red[d] || x.shape()[d] > 0, op, ": cannot reduce over an empty dim of ", shape_str(x.shape()));
  Tensor kept = launch_reduce(op, kind, x, red);
  Tensor out = kept.view(final_shape(x, red, keepdim));
  return record(kind == kernels::ReduceOp::max ? "MaxBackward" : "MinBackward", out, {x},
                [sx = SavedTensor(x), sk = SavedTensor(kept), red](const Tensor& g) {
                  const Tensor x_ = sx.get(), k = sk.get();
                  const Tensor hits = eq(x_, k);  // 1 where x attains the extremum
                  const Tensor count = launch_reduce("max", kernels::ReduceOp::sum, hits, red);
                  return Grads{g.reshape(k.shape()) * hits / count};
                });
}

}  // namespace

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  const std::vector<bool> red = reduced_mask("sum", x, dims);
  Tensor out = launch_reduce("sum", kernels::ReduceOp::sum, x, red).view(final_shape(x, red, keepdim));
  return record("SumBackward", out, {x}, [shape = x.shape(), kshape = keepdim_shape(x, red)](const Tensor& g) {
    return Grads{g.reshape(kshape).expand(shape)};
  });
}

Tensor sum(const Tensor& x) { return sum(x, {}, false); }

Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  const std::vector<bool> red = reduced_mask("mean", x, dims);
  int64_t count = 1;
  for (size_t d = 0; d < red.size(); ++d)
    if (red[d]) count *= x.shape()[d];
  NG_CHECK(count > 0, "mean: cannot average over zero elements of ", shape_str(x.shape()));
  return sum(x, dims, keepdim) * (1.0 / double(count));
}

Tensor mean(const Tensor& x) { return mean(x, {}, false); }

Tensor max(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return extremum("max", kernels::ReduceOp::max, x, dims, keepdim);
}
Tensor max(const Tensor& x) { return max(x, {}, false); }
Tensor min(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return extremum("min", kernels::ReduceOp::min, x, dims, keepdim);
}
Tensor min(const Tensor& x) { return min(x, {}, false); }

Tensor var(const Tensor& x, const std::vector<int64_t>& dims, int64_t correction, bool keepdim) {
  const std::vector<bool> red = reduced_mask("var", x, dims);
  int64_t count = 1;
  for (size_t d = 0; d < red.size(); ++d)
    if (red[d]) count *= x.shape()[d];
  NG_CHECK(correction >= 0 && count - correction > 0, "var: ", count, " elements with correction ", correction,
           " leave no degrees of freedom (", shape_str(x.shape()), ")");
  // Two passes (deviations from the mean, then their squares): the one-pass
  // E[x^2] - E[x]^2 cancels catastrophically when the mean is large.
  const Tensor deviation = x - mean(x, dims, true);
  return sum(square(deviation), dims, keepdim) * (1.0 / double(count - correction));
}

// d std = d var / (2 std), taken as 0 where std is 0 (a constant slice), as
// PyTorch does: there the variance's gradient is 0 too, and sqrt's backward
// alone would make 0 * inf = NaN.
Tensor std(const Tensor& x, const std::vector<int64_t>& dims, int64_t correction, bool keepdim) {
  const Tensor v = var(x, dims, correction, keepdim);
  Tensor out;
  {
    NoGradGuard forward_only;
    out = sqrt(v);
  }
  return record("StdBackward", out, {v}, [so = SavedTensor::output(out)](const Tensor& g) {
    const Tensor s = so.get();
    return Grads{g * 0.5 / (s + eq(s, zeros_like(s))) * gt(s, zeros_like(s))};
  });
}

Tensor logsumexp(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  // Shifted by the largest term, held constant (its gradient would cancel):
  // every exponent is <= 0. Clamped to the dtype's finite range so that a
  // slice of all -inf gives exp(-inf) = 0 and log 0 = -inf rather than
  // -inf - -inf.
  const double finite = x.dtype() == DType::f32 ? double(std::numeric_limits<float>::max())
                                                 : std::numeric_limits<double>::max();
  const Tensor shift = clamp(max(x, dims, true).detach(), -finite, finite);
  const Tensor out = log(sum(exp(x - shift), dims, true)) + shift;
  return keepdim ? out : out.view(final_shape(x, reduced_mask("logsumexp", x, dims), false));
}

Tensor vector_norm(const Tensor& x, double ord, const std::vector<int64_t>& dims, bool keepdim) {
  NG_CHECK(ord >= 1.0, "vector_norm: ord must be >= 1 or inf, got ", ord);
  if (std::isinf(ord)) return max(abs(x), dims, keepdim);
  if (ord == 1.0) return sum(abs(x), dims, keepdim);
  // d||x||_p/dx = sign(x) |x|^(p-1) / ||x||^(p-1) (x / ||x|| for p = 2), taken
  // as 0 where the norm is 0: x is 0 there too, so dividing by 1 instead
  // gives it, where the composite pow(sum(...), 1/p) would give 0 * inf.
  const std::vector<bool> red = reduced_mask("vector_norm", x, dims);
  Tensor norm;
  {
    NoGradGuard forward_only;
    norm = ord == 2.0 ? sqrt(sum(square(x), dims, true)) : pow(sum(pow(abs(x), ord), dims, true), 1.0 / ord);
  }
  norm = record("NormBackward", norm, {x},
                [sx = SavedTensor(x), sn = SavedTensor::output(norm), ord](const Tensor& g) {
                  const Tensor x_ = sx.get(), n = sn.get(), safe = n + eq(n, zeros_like(n));
                  if (ord == 2.0) return Grads{g * x_ / safe};
                  return Grads{g * launch_unary(kernels::Unary::sign, x_) * pow(abs(x_) / safe, ord - 1.0)};
                });
  return keepdim ? norm : norm.view(final_shape(x, red, false));
}

}  // namespace ng
