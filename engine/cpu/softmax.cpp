#include "engine/cpu/softmax.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/cpu/loops.h"

namespace ng::cpu {

namespace {

constexpr int64_t kGrain = 1 << 15;  // elements below which threads cost more than they save

// Runs f(offset of the line's first element) for every line along D, in
// parallel when there is enough work. Consecutive elements of a line are
// `inner` apart.
template <class F>
void for_each_line(const kernels::SoftmaxLayout& l, F&& f) {
  const int64_t lines = l.outer * l.inner;
#pragma omp parallel for schedule(static) if (lines > 1 && lines * l.D >= kGrain)
  for (int64_t line = 0; line < lines; ++line) {
    const int64_t o = line / l.inner, i = line % l.inner;
    f(o * l.D * l.inner + i);
  }
}

template <class T>
void forward(const kernels::SoftmaxLayout& l, const Tensor& x, const Tensor& y, bool log) {
  const T* px = x.data<T>();
  T* py = y.data<T>();
  const int64_t D = l.D, st = l.inner;
  for_each_line(l, [&](int64_t base) {
    const T* in = px + base;
    T* out = py + base;
    // Subtracting the max makes every exponent <= 0: no overflow, and at
    // least one term of the sum is exactly 1, so no 0/0 either.
    double m = -std::numeric_limits<double>::infinity();
    for (int64_t j = 0; j < D; ++j) m = std::max(m, double(in[j * st]));
    double s = 0;
    for (int64_t j = 0; j < D; ++j) s += std::exp(double(in[j * st]) - m);
    if (log) {
      const double log_s = std::log(s);
      for (int64_t j = 0; j < D; ++j) out[j * st] = T(double(in[j * st]) - m - log_s);
    } else {
      const double inv = 1.0 / s;
      for (int64_t j = 0; j < D; ++j) out[j * st] = T(std::exp(double(in[j * st]) - m) * inv);
    }
  });
}

template <class T>
void backward(const kernels::SoftmaxLayout& l, const Tensor& g, const Tensor& y, const Tensor& gx, bool log) {
  const T *pg = g.data<T>(), *py = y.data<T>();
  T* pgx = gx.data<T>();
  const int64_t D = l.D, st = l.inner;
  for_each_line(l, [&](int64_t base) {
    const T *gs = pg + base, *ys = py + base;
    T* out = pgx + base;
    double s = 0;
    if (log) {
      for (int64_t j = 0; j < D; ++j) s += double(gs[j * st]);
      for (int64_t j = 0; j < D; ++j)
        out[j * st] = T(double(gs[j * st]) - std::exp(double(ys[j * st])) * s);
    } else {
      for (int64_t j = 0; j < D; ++j) s += double(gs[j * st]) * double(ys[j * st]);
      for (int64_t j = 0; j < D; ++j) out[j * st] = T(double(ys[j * st]) * (double(gs[j * st]) - s));
    }
  });
}

}  // namespace

void softmax_forward(const kernels::SoftmaxLayout& l, const Tensor& x, const Tensor& y, bool log) {
  dispatch_float(x.dtype(), [&]<class T>() { forward<T>(l, x, y, log); });
}

void softmax_backward(const kernels::SoftmaxLayout& l, const Tensor& g, const Tensor& y, const Tensor& gx, bool log) {
  dispatch_float(y.dtype(), [&]<class T>() { backward<T>(l, g, y, gx, log); });
}

}  // namespace ng::cpu
