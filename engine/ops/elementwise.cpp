#include "engine/ops/elementwise.h"

#include "engine/autograd.h"
#include "engine/cpu/pointwise.h"
#include "engine/ops/dispatch.h"
#include "engine/ops/pointwise_launch.h"

namespace ng {

using kernels::Binary;
using kernels::Unary;
using Grads = std::vector<Tensor>;

// ---- launching ---------------------------------------------------------------

Tensor launch_unary(Unary op, const Tensor& a, double p0, double p1) {
  Tensor out = empty(a.shape(), a.options());
  if (a.device().is_cpu())
    cpu::unary(op, out, a, p0, p1);
  else
    NG_ON_CUDA("unary", cuda::unary(op, out, a, p0, p1), a);
  return out;
}

Tensor launch_binary(const char* name, Binary op, const Tensor& a, const Tensor& b) {
  check_same_dtype_device(name, {a, b});
  Tensor out = empty(broadcast_shapes(name, a.shape(), b.shape()), a.options());
  if (a.device().is_cpu())
    cpu::binary(op, out, a, b);
  else
    NG_ON_CUDA(name, cuda::binary(op, out, a, b), a, b);
  return out;
}

// ---- binary arithmetic -----------------------------------------------------------

// Each binary op's backward computes only the gradients some input needs.
Tensor add(const Tensor& a, const Tensor& b) {
  return record("AddBackward", launch_binary("add", Binary::add, a, b), {a, b},
                [ga = needs_grad({a}), gb = needs_grad({b}), sa = a.shape(), sb = b.shape()](const Tensor& g) {
                  return Grads{ga ? sum_to(g, sa) : Tensor(), gb ? sum_to(g, sb) : Tensor()};
                });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  return record("SubBackward", launch_binary("sub", Binary::sub, a, b), {a, b},
                [ga = needs_grad({a}), gb = needs_grad({b}), sa = a.shape(), sb = b.shape()](const Tensor& g) {
                  return Grads{ga ? sum_to(g, sa) : Tensor(), gb ? sum_to(-g, sb) : Tensor()};
                });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  const bool ga = needs_grad({a}), gb = needs_grad({b});
  // Save only what the other side's gradient needs.
  return record("MulBackward", launch_binary("mul", Binary::mul, a, b), {a, b},
                [sa = SavedTensor(gb ? a : Tensor()), sb = SavedTensor(ga ? b : Tensor()), ga, gb,
                 shape_a = a.shape(), shape_b = b.shape()](const Tensor& g) {
                  return Grads{ga ? sum_to(g * sb.get(), shape_a) : Tensor(),
                               gb ? sum_to(g * sa.get(), shape_b) : Tensor()};
                });
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = launch_binary("div", Binary::div, a, b);
  const bool need_b = needs_grad({b});
  return record("DivBackward", out, {a, b},
                [sb = SavedTensor(b), so = SavedTensor::output(need_b ? out : Tensor()), need_a = needs_grad({a}),
                 need_b, shape_a = a.shape(), shape_b = b.shape()](const Tensor& g) {
                  const Tensor ga = g / sb.get();
                  return Grads{need_a ? sum_to(ga, shape_a) : Tensor(),
                               need_b ? sum_to(-(ga * so.get()), shape_b) : Tensor()};
                });
}

// Gradient of max/min: to the winning side, split evenly on ties.
static Tensor extremum(const char* name, Binary op, Binary wins, const Tensor& a, const Tensor& b) {
  return record(name, launch_binary(name, op, a, b), {a, b},
                [sa = SavedTensor(a), sb = SavedTensor(b), ga = needs_grad({a}), gb = needs_grad({b}),
                 wins](const Tensor& g) {
                  const Tensor a_ = sa.get(), b_ = sb.get();
                  const Tensor share = launch_binary("extremum", wins, a_, b_) +
                                       launch_binary("extremum", Binary::eq, a_, b_) * 0.5;
                  return Grads{ga ? sum_to(g * share, a_.shape()) : Tensor(),
                               gb ? sum_to(g * (1.0 - share), b_.shape()) : Tensor()};
                });
}

Tensor maximum(const Tensor& a, const Tensor& b) { return extremum("maximum", Binary::maximum, Binary::gt, a, b); }
Tensor minimum(const Tensor& a, const Tensor& b) { return extremum("minimum", Binary::minimum, Binary::lt, a, b); }

// ---- with a scalar -----------------------------------------------------------------

Tensor add(const Tensor& a, double s) {
  return record("AddScalarBackward", launch_unary(Unary::add_scalar, a, s), {a},
                [](const Tensor& g) { return Grads{g}; });
}

Tensor mul(const Tensor& a, double s) {
  return record("MulScalarBackward", launch_unary(Unary::mul_scalar, a, s), {a},
                [s](const Tensor& g) { return Grads{g * s}; });
}

Tensor rsub(const Tensor& a, double s) {
  return record("RsubScalarBackward", launch_unary(Unary::rsub_scalar, a, s), {a},
                [](const Tensor& g) { return Grads{-g}; });
}

// ---- unary math ----------------------------------------------------------------------

Tensor neg(const Tensor& a) {
  return record("NegBackward", launch_unary(Unary::neg, a), {a}, [](const Tensor& g) { return Grads{-g}; });
}

Tensor exp(const Tensor& a) {
  Tensor out = launch_unary(Unary::exp, a);
  return record("ExpBackward", out, {a}, [so = SavedTensor::output(out)](const Tensor& g) { return Grads{g * so.get()}; });
}

Tensor expm1(const Tensor& a) {
  Tensor out = launch_unary(Unary::expm1, a);
  return record("Expm1Backward", out, {a},
                [so = SavedTensor::output(out)](const Tensor& g) { return Grads{g * (so.get() + 1.0)}; });
}

Tensor log(const Tensor& a) {
  return record("LogBackward", launch_unary(Unary::log, a), {a},
                [sa = SavedTensor(a)](const Tensor& g) { return Grads{g / sa.get()}; });
}

Tensor log1p(const Tensor& a) {
  return record("Log1pBackward", launch_unary(Unary::log1p, a), {a},
                [sa = SavedTensor(a)](const Tensor& g) { return Grads{g / (sa.get() + 1.0)}; });
}

Tensor sqrt(const Tensor& a) {
  Tensor out = launch_unary(Unary::sqrt, a);
  return record("SqrtBackward", out, {a},
                [so = SavedTensor::output(out)](const Tensor& g) { return Grads{g * 0.5 / so.get()}; });
}

Tensor square(const Tensor& a) {
  return record("SquareBackward", launch_unary(Unary::square, a), {a},
                [sa = SavedTensor(a)](const Tensor& g) { return Grads{g * sa.get() * 2.0}; });
}

Tensor reciprocal(const Tensor& a) {
  Tensor out = launch_unary(Unary::reciprocal, a);
  return record("ReciprocalBackward", out, {a}, [so = SavedTensor::output(out)](const Tensor& g) {
    const Tensor o = so.get();
    return Grads{-(g * o * o)};
  });
}

Tensor pow(const Tensor& a, double e) {
  return record("PowBackward", launch_unary(Unary::pow_scalar, a, e), {a},
                [sa = SavedTensor(a), e](const Tensor& g) { return Grads{g * pow(sa.get(), e - 1.0) * e}; });
}

Tensor abs(const Tensor& a) {
  return record("AbsBackward", launch_unary(Unary::abs, a), {a},
                [sa = SavedTensor(a)](const Tensor& g) { return Grads{g * launch_unary(Unary::sign, sa.get())}; });
}

Tensor sin(const Tensor& a) {
  return record("SinBackward", launch_unary(Unary::sin, a), {a},
                [sa = SavedTensor(a)](const Tensor& g) { return Grads{g * cos(sa.get())}; });
}

Tensor cos(const Tensor& a) {
  return record("CosBackward", launch_unary(Unary::cos, a), {a},
                [sa = SavedTensor(a)](const Tensor& g) { return Grads{-(g * sin(sa.get()))}; });
}

Tensor floor(const Tensor& a) {
  return record("FloorBackward", launch_unary(Unary::floor, a), {a},
                [](const Tensor& g) { return Grads{zeros_like(g)}; });
}

Tensor clamp(const Tensor& a, double lo, double hi) {
  NG_CHECK(lo <= hi, "clamp: lower bound ", lo, " is above upper bound ", hi);
  return record("ClampBackward", launch_unary(Unary::clamp, a, lo, hi), {a},
                [sa = SavedTensor(a), lo, hi](const Tensor& g) {
                  return Grads{g * launch_unary(Unary::clamp_mask, sa.get(), lo, hi)};
                });
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  check_same_dtype_device("where", {cond, a, b});
  const Shape shape = broadcast_shapes("where", broadcast_shapes("where", cond.shape(), a.shape()), b.shape());
  Tensor out = empty(shape, a.options());
  if (a.device().is_cpu())
    cpu::where(out, cond, a, b);
  else
    NG_ON_CUDA("where", cuda::where(out, cond, a, b), cond, a, b);
  return record("WhereBackward", out, {a, b},
                [sc = SavedTensor(cond.detach()), sa = a.shape(), sb = b.shape()](const Tensor& g) {
                  const Tensor c = sc.get(), zero = zeros({}, g.options());
                  return Grads{sum_to(where(c, g, zero), sa), sum_to(where(c, zero, g), sb)};
                });
}

// ---- comparisons ---------------------------------------------------------------------

Tensor gt(const Tensor& a, const Tensor& b) { return launch_binary("gt", Binary::gt, a.detach(), b.detach()); }
Tensor lt(const Tensor& a, const Tensor& b) { return launch_binary("lt", Binary::lt, a.detach(), b.detach()); }
Tensor ge(const Tensor& a, const Tensor& b) { return launch_binary("ge", Binary::ge, a.detach(), b.detach()); }
Tensor le(const Tensor& a, const Tensor& b) { return launch_binary("le", Binary::le, a.detach(), b.detach()); }
Tensor eq(const Tensor& a, const Tensor& b) { return launch_binary("eq", Binary::eq, a.detach(), b.detach()); }
Tensor gt(const Tensor& a, double s) { return launch_unary(Unary::gt_scalar, a.detach(), s); }
Tensor lt(const Tensor& a, double s) { return launch_unary(Unary::lt_scalar, a.detach(), s); }

// ---- in place ------------------------------------------------------------------------

Tensor& add_(Tensor& a, const Tensor& b, double alpha) {
  check_same_dtype_device("add_", {a, b});
  NG_CHECK(broadcast_shapes("add_", a.shape(), b.shape()) == a.shape(), "add_: cannot broadcast ",
           shape_str(b.shape()), " into ", shape_str(a.shape()));
  check_inplace(a, "add_");
  NoGradGuard no_grad;
  const Tensor bb = alpha == 1.0 ? b : launch_unary(Unary::mul_scalar, b, alpha);
  if (a.device().is_cpu())
    cpu::binary(Binary::add, a, a, bb);
  else
    NG_ON_CUDA("add_", cuda::binary(Binary::add, a, a, bb), a, bb);
  return a;
}

Tensor& mul_(Tensor& a, double s) {
  check_inplace(a, "mul_");
  if (a.device().is_cpu())
    cpu::unary(Unary::mul_scalar, a, a, s);
  else
    NG_ON_CUDA("mul_", cuda::unary(Unary::mul_scalar, a, a, s), a);
  return a;
}

Tensor& mul_(Tensor& a, const Tensor& b) {
  check_same_dtype_device("mul_", {a, b});
  NG_CHECK(broadcast_shapes("mul_", a.shape(), b.shape()) == a.shape(), "mul_: cannot broadcast ",
           shape_str(b.shape()), " into ", shape_str(a.shape()));
  check_inplace(a, "mul_");
  if (a.device().is_cpu())
    cpu::binary(Binary::mul, a, a, b);
  else
    NG_ON_CUDA("mul_", cuda::binary(Binary::mul, a, a, b), a, b);
  return a;
}

}  // namespace ng
