// The scalar math of every pointwise op, written once for the host and the
// GPU. The CPU backend and the CUDA elementwise kernels both instantiate
// these templates, so the two backends compute the same function.
//
// An op is named by an enum value (so non-CUDA code can ask for a kernel by
// name) and evaluated by unary_fn<op> / binary_fn<op>. p0 and p1 are scalar
// parameters (the exponent of pow, the bounds of clamp, a slope, ...).
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/hd.h"

namespace ng::kernels {

// X-macro lists: one line an op, used to generate enums and switches.
#define NG_UNARY_OPS(X)                                                               \
  X(neg) X(exp) X(log) X(sqrt) X(abs) X(sign) X(square) X(reciprocal) X(add_scalar)  \
  X(mul_scalar) X(rsub_scalar) X(pow_scalar) X(clamp) X(relu) X(leaky_relu) X(sigmoid) \
  X(tanh) X(silu) X(softplus) X(log_sigmoid) X(step) X(leaky_relu_slope) X(silu_grad)  \
  X(gt_scalar) X(lt_scalar) X(clamp_mask) X(log1p) X(expm1) X(cos) X(sin) X(gelu) X(gelu_grad)  \
  X(elu) X(floor)

#define NG_BINARY_OPS(X) \
  X(add) X(sub) X(mul) X(div) X(maximum) X(minimum) X(gt) X(lt) X(ge) X(le) X(eq)

#define NG_ENUM_ITEM(name) name,
enum class Unary : uint8_t { NG_UNARY_OPS(NG_ENUM_ITEM) };
enum class Binary : uint8_t { NG_BINARY_OPS(NG_ENUM_ITEM) };
#undef NG_ENUM_ITEM

// Numerically stable logistic function: never exponentiates a large
// positive. Written from e = exp(-|x|), its one transcendental, so that the
// CPU can compute the exponentials of a whole array in one vectorised call
// (engine/cpu/pointwise.cpp) and then apply this same formula.
// (1 / (1 + e) for x >= 0, e / (1 + e) below, as one division: no branch.)
template <class T>
NG_HD T sigmoid_of(T x, T e) {
  return (x >= T(0) ? T(1) : e) / (T(1) + e);
}
template <class T>
NG_HD T sigmoid(T x) {
  using std::exp;
  using std::fabs;
  return sigmoid_of(x, exp(-fabs(x)));
}

// log(1 + exp(x)) without overflow: max(x, 0) + log1p(exp(-|x|)), from
// l = log1p(exp(-|x|)).
template <class T>
NG_HD T softplus_of(T x, T l) {
  return (x > T(0) ? x : T(0)) + l;
}
template <class T>
NG_HD T softplus(T x) {
  using std::exp;
  using std::fabs;
  using std::log1p;
  return softplus_of(x, log1p(exp(-fabs(x))));
}

// silu'(x) = s (1 + x (1 - s)) from s = sigmoid(x).
template <class T>
NG_HD T silu_grad_of(T x, T s) {
  return s * (T(1) + x * (T(1) - s));
}

// gelu(x) = x Phi(x), with Phi the standard normal CDF, 0.5 (1 + erf(x / sqrt 2))
// (the exact form, PyTorch's default); gelu'(x) = Phi(x) + x phi(x).
template <class T>
NG_HD T normal_cdf(T x) {
  using std::erf;
  return T(0.5) * (T(1) + erf(x * T(0.70710678118654752440)));
}
template <class T>
NG_HD T gelu_grad(T x) {
  using std::exp;
  return normal_cdf(x) + x * exp(T(-0.5) * x * x) * T(0.39894228040143267794);  // 1 / sqrt(2 pi)
}

template <Unary op, class T>
NG_HD T unary_fn(T x, T p0, T p1) {
  using namespace std;
  if constexpr (op == Unary::neg) return -x;
  else if constexpr (op == Unary::exp) return exp(x);
  else if constexpr (op == Unary::log) return log(x);
  else if constexpr (op == Unary::sqrt) return sqrt(x);
  else if constexpr (op == Unary::abs) return fabs(x);
  else if constexpr (op == Unary::sign) return T((x > T(0)) - (x < T(0)));
  else if constexpr (op == Unary::square) return x * x;
  else if constexpr (op == Unary::reciprocal) return T(1) / x;
  else if constexpr (op == Unary::add_scalar) return x + p0;
  else if constexpr (op == Unary::mul_scalar) return x * p0;
  else if constexpr (op == Unary::rsub_scalar) return p0 - x;
  else if constexpr (op == Unary::pow_scalar) return pow(x, p0);
  else if constexpr (op == Unary::clamp) return x < p0 ? p0 : (x > p1 ? p1 : x);
  else if constexpr (op == Unary::relu) return x > T(0) ? x : T(0);
  else if constexpr (op == Unary::leaky_relu) return x > T(0) ? x : x * p0;
  else if constexpr (op == Unary::sigmoid) return sigmoid(x);
  else if constexpr (op == Unary::tanh) return tanh(x);
  else if constexpr (op == Unary::silu) return x * sigmoid(x);
  else if constexpr (op == Unary::softplus) return softplus(x);
  else if constexpr (op == Unary::log_sigmoid) return -softplus(-x);
  // Derivative helpers (used by backward passes when no graph is built):
  else if constexpr (op == Unary::step) return x > T(0) ? T(1) : T(0);                 // relu'
  else if constexpr (op == Unary::leaky_relu_slope) return x > T(0) ? T(1) : p0;       // leaky_relu'
  else if constexpr (op == Unary::silu_grad) return silu_grad_of(x, sigmoid(x));       // silu'
  else if constexpr (op == Unary::gt_scalar) return x > p0 ? T(1) : T(0);
  else if constexpr (op == Unary::lt_scalar) return x < p0 ? T(1) : T(0);
  else if constexpr (op == Unary::clamp_mask) return (x >= p0 && x <= p1) ? T(1) : T(0);  // clamp'
  else if constexpr (op == Unary::log1p) return log1p(x);
  else if constexpr (op == Unary::expm1) return expm1(x);
  else if constexpr (op == Unary::cos) return cos(x);
  else if constexpr (op == Unary::sin) return sin(x);
  else if constexpr (op == Unary::gelu) return x * normal_cdf(x);
  else if constexpr (op == Unary::gelu_grad) return gelu_grad(x);                       // gelu'
  else if constexpr (op == Unary::elu) return x > T(0) ? x : p0 * expm1(x);              // p0 = alpha
  else if constexpr (op == Unary::floor) return floor(x);
  else static_assert(op != op, "unhandled unary op");
}

template <Binary op, class T>
NG_HD T binary_fn(T a, T b) {
  using namespace std;
  if constexpr (op == Binary::add) return a + b;
  else if constexpr (op == Binary::sub) return a - b;
  else if constexpr (op == Binary::mul) return a * b;
  else if constexpr (op == Binary::div) return a / b;
  else if constexpr (op == Binary::maximum) return a > b ? a : b;
  else if constexpr (op == Binary::minimum) return a < b ? a : b;
  else if constexpr (op == Binary::gt) return a > b ? T(1) : T(0);
  else if constexpr (op == Binary::lt) return a < b ? T(1) : T(0);
  else if constexpr (op == Binary::ge) return a >= b ? T(1) : T(0);
  else if constexpr (op == Binary::le) return a <= b ? T(1) : T(0);
  else if constexpr (op == Binary::eq) return a == b ? T(1) : T(0);
  else static_assert(op != op, "unhandled binary op");
}

// where(cond, a, b): cond is a 0/1 mask of the same dtype.
template <class T>
NG_HD T where_fn(T cond, T a, T b) {
  return cond != T(0) ? a : b;
}

}  // namespace ng::kernels
