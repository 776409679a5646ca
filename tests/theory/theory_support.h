// Numerical tools shared by the theory tests (docs/theory.md): Gaussian
// log-densities, grids for quadrature, Monte-Carlo means with their standard
// errors, and plain gradient descent on a few scalar parameters.
//
// Everything is float64 and built from the pointwise ops, the reductions,
// Philox randn/rand and autograd, so each claim of the doc is checked with
// the engine itself.
#pragma once

#include <algorithm>
#include <cmath>
#include <functional>
#include <numbers>
#include <vector>

#include "engine/autograd.h"
#include "engine/ops/activation.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/random.h"
#include "engine/ops/reduce.h"
#include "engine/tensor.h"

namespace theory {

using ng::Tensor;

inline const ng::TensorOptions kF64 = ng::TensorOptions{}.with_dtype(ng::DType::f64);
inline const double kLog2Pi = std::log(2.0 * std::numbers::pi);

// A float64 scalar leaf that requires grad (a parameter to optimise).
inline Tensor parameter(double value) {
  return ng::scalar_tensor(value, kF64.with_requires_grad());
}

inline Tensor constant(double value) { return ng::scalar_tensor(value, kF64); }

// log N(x; m, s^2) elementwise, written as the doc writes it:
// -((x - m)/s)^2 / 2 - log s - log(2 pi) / 2.
inline Tensor normal_log_density(const Tensor& x, const Tensor& m, const Tensor& log_s) {
  const Tensor u = (x - m) * ng::exp(-log_s);
  return -0.5 * ng::square(u) - log_s - 0.5 * kLog2Pi;
}
inline Tensor normal_log_density(const Tensor& x, double m, double s) {
  return -0.5 * ng::square((x - m) / s) - (std::log(s) + 0.5 * kLog2Pi);
}

// log(exp(a) + exp(b)) without overflow or underflow.
inline Tensor log_add_exp(const Tensor& a, const Tensor& b) {
  const Tensor hi = ng::maximum(a, b).detach();
  return hi + ng::log(ng::exp(a - hi) + ng::exp(b - hi));
}

// KL(N(m1, s1^2) || N(m2, s2^2)) in closed form (nats).
inline double gaussian_kl(double m1, double s1, double m2, double s2) {
  return std::log(s2 / s1) + (s1 * s1 + (m1 - m2) * (m1 - m2)) / (2.0 * s2 * s2) - 0.5;
}

// n equally spaced points on [lo, hi] for Riemann-sum quadrature. For smooth
// integrands that vanish at both ends this is the trapezoid rule, and it
// converges faster than any power of the spacing.
struct Grid {
  Tensor x;
  double dx;
};
inline Grid grid(double lo, double hi, int64_t n) {
  return {ng::linspace(lo, hi, n, kF64), (hi - lo) / double(n - 1)};
}
// Midpoints of n equal cells of [lo, hi] (for integrands with jumps).
inline Grid midpoints(double lo, double hi, int64_t n) {
  const double dx = (hi - lo) / double(n);
  return {ng::linspace(lo + 0.5 * dx, hi - 0.5 * dx, n, kF64), dx};
}
inline Tensor integrate(const Tensor& f, const Grid& g) { return ng::sum(f) * g.dx; }

// p log(p / q) with the convention 0 log(0 / q) = 0 (and +inf where q = 0 < p).
inline Tensor kl_terms(const Tensor& p, const Tensor& q) {
  const Tensor positive = ng::gt(p, 0.0);
  const Tensor safe_p = ng::where(positive, p, ng::ones_like(p));
  return ng::where(positive, p * ng::log(safe_p / q), ng::zeros_like(p));
}

// The sample mean of x and its standard error sd / sqrt(n).
struct Estimate {
  double mean;
  double se;
};
inline Estimate mean_and_se(const Tensor& x) {
  const double n = double(x.numel());
  const double m = ng::mean(x).item();
  const double var = ng::sum(ng::square(x - m)).item() / (n - 1.0);
  return {m, std::sqrt(var / n)};
}

// The unbiased sample variance and its standard error. For a normal sample
// Var(s^2) = 2 sigma^4 / (n - 1); the fourth central moment gives it for
// any distribution: (m4 - s^4 (n - 3) / (n - 1)) / n.
inline Estimate variance_and_se(const Tensor& x) {
  const double n = double(x.numel());
  const Tensor c = x - ng::mean(x).item();
  const double var = ng::sum(ng::square(c)).item() / (n - 1.0);
  const double m4 = ng::mean(ng::square(ng::square(c))).item();
  return {var, std::sqrt(std::max(m4 - var * var * (n - 3.0) / (n - 1.0), 0.0) / n)};
}

// Gradient descent, plain or with heavy-ball momentum:
//   velocity <- momentum * velocity + d loss / d p;  p <- p - lr * velocity,
// `steps` times. Returns the last loss. The gradients come from
// autograd::grad, so no .grad is left behind.
inline double gradient_descent(const std::function<Tensor()>& loss, const std::vector<Tensor>& params,
                               double lr, int steps, double momentum = 0.0) {
  std::vector<Tensor> velocity;
  for (const Tensor& p : params) velocity.push_back(ng::zeros_like(p));
  double last = 0.0;
  for (int i = 0; i < steps; ++i) {
    const Tensor l = loss();
    last = l.item();
    const std::vector<Tensor> grads = ng::autograd::grad({l}, params);
    ng::NoGradGuard no_grad;
    for (size_t k = 0; k < params.size(); ++k) {
      ng::mul_(velocity[k], momentum);
      ng::add_(velocity[k], grads[k]);
      Tensor p = params[k];
      ng::add_(p, velocity[k], -lr);
    }
  }
  return last;
}

// The largest |d loss / d p| over all parameters (to show an optimum is reached).
inline double max_abs_gradient(const std::function<Tensor()>& loss, const std::vector<Tensor>& params) {
  const std::vector<Tensor> grads = ng::autograd::grad({loss()}, params);
  double m = 0.0;
  for (const Tensor& g : grads) m = std::max(m, ng::max(ng::abs(g)).item());
  return m;
}

inline std::vector<double> sorted_values(const Tensor& x) {
  std::vector<double> v = x.to_vector<double>();
  std::sort(v.begin(), v.end());
  return v;
}

// -x log x - (1 - x) log(1 - x): the entropy of a coin with P(1) = x (nats).
inline double binary_entropy(double x) {
  auto xlogx = [](double v) { return v > 0.0 ? v * std::log(v) : 0.0; };
  return -xlogx(x) - xlogx(1.0 - x);
}

}  // namespace theory
