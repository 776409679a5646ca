#include "engine/cpu/norm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/cpu/loops.h"
#include "engine/cpu/pointwise.h"

namespace ng::cpu {

namespace {

constexpr int64_t kGrain = 1 << 15;  // elements below which threads cost more than they save

template <class T>
const T* data_or_null(const Tensor& t) {
  return t.defined() ? t.template data<T>() : nullptr;
}
template <class T>
T* mutable_or_null(const Tensor& t) {
  return t.defined() ? t.template data<T>() : nullptr;
}

// Two running sums in double, each split into kLanes partial sums (element i
// of a run into lane i % kLanes) merged in lane order at the end: a fixed
// order for a fixed shape, so the same bits at every thread count, and eight
// independent chains of additions instead of one long one, which the
// compiler vectorises.
struct LaneSums {
  static constexpr int kLanes = 8;
  double a[kLanes] = {}, b[kLanes] = {};

  // a += x - shift, b += (x - shift)^2.
  template <class T>
  void add_shifted(const T* x, int64_t n, double shift) {
    int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes)
      for (int j = 0; j < kLanes; ++j) {
        const double d = double(x[i + j]) - shift;
        a[j] += d;
        b[j] += d * d;
      }
    for (int j = 0; i < n; ++i, ++j) {
      const double d = double(x[i]) - shift;
      a[j] += d;
      b[j] += d * d;
    }
  }
  // a += g, b += g (x - mu).
  template <class T>
  void add_gradient(const T* g, const T* x, int64_t n, double mu) {
    int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes)
      for (int j = 0; j < kLanes; ++j) {
        a[j] += double(g[i + j]);
        b[j] += double(g[i + j]) * (double(x[i + j]) - mu);
      }
    for (int j = 0; i < n; ++i, ++j) {
      a[j] += double(g[i]);
      b[j] += double(g[i]) * (double(x[i]) - mu);
    }
  }
  double first() const { return merged(a); }
  double second() const { return merged(b); }

 private:
  static double merged(const double* lanes) {
    double s = 0;
    for (int j = 0; j < kLanes; ++j) s += lanes[j];
    return s;
  }
};

// Calls f(pointer to segment start) for each contiguous segment of statistic
// k: one run of (C/G)*S elements per sample the statistic covers.
template <class T, class F>
void for_each_segment(const kernels::NormLayout& l, const T* base, int64_t k, F&& f) {
  const int64_t g = k % l.G, first = l.per_sample ? k / l.G : 0, count = l.per_sample ? 1 : l.N;
  for (int64_t n = first; n < first + count; ++n) f(base + (n * l.C + g * l.group_channels()) * l.S);
}

// ---- batch norm over few positions: a statistic per column -----------------------
//
// Batch norm with S = 1 (after a Linear: x [N, C]) or a few positions per
// channel has C statistics of N * S elements each, and rows of S elements:
// the row-wise loops below would pay a statistic's setup for every element.
// These walk the batch row by row instead, summing into per-channel
// accumulators, so the inner loops run along contiguous channels. Each
// channel's sums still run over (n, s) in one fixed order: the same bits at
// every thread count.

constexpr int64_t kColumnPositions = 8;      // batch norms with S below this take the column path
constexpr int64_t kChannelsPerTask = 512;   // channels one thread sums at a time

bool by_columns(const kernels::NormLayout& l) { return !l.per_sample && l.G == l.C && l.S < kColumnPositions; }

// For channels [c0, c1): a[c] += u and b[c] += v, (u, v) = terms(i, c) for
// every element i of channel c, sample by sample, position by position.
// (With one position a channel, the loop over c is the innermost one.)
template <class F>
void column_sums(const kernels::NormLayout& l, int64_t c0, int64_t c1, double* a, double* b, F&& terms) {
  for (int64_t n = 0; n < l.N; ++n) {
    const int64_t row = n * l.C * l.S;
    if (l.S == 1) {
      for (int64_t c = c0; c < c1; ++c) {
        const auto [u, v] = terms(row + c, c);
        a[c] += u;
        b[c] += v;
      }
      continue;
    }
    for (int64_t c = c0; c < c1; ++c)
      for (int64_t s = 0; s < l.S; ++s) {
        const auto [u, v] = terms(row + c * l.S + s, c);
        a[c] += u;
        b[c] += v;
      }
  }
}

template <class T>
void forward_by_columns(const kernels::NormLayout& l, const T* px, const T* pw, const T* pb, double eps, T* py,
                        T* pmean, T* prstd, T* pvar) {
  const int64_t C = l.C, total = l.N * C * l.S;
  const double m = double(l.stat_size());
  std::vector<double> a(size_t(C), 0.0), b(size_t(C), 0.0), scale(size_t(C), 0.0), shift(size_t(C), 0.0);
  // The first sample's value as each channel's shift (see forward).
  std::vector<double> first(size_t(C), 0.0);
  if (l.N * l.S > 0)
    for (int64_t c = 0; c < C; ++c) first[size_t(c)] = double(px[c * l.S]);
#pragma omp parallel for schedule(static) if (C > kChannelsPerTask && total >= kGrain)
  for (int64_t c0 = 0; c0 < C; c0 += kChannelsPerTask) {
    column_sums(l, c0, std::min(C, c0 + kChannelsPerTask), a.data(), b.data(), [&](int64_t i, int64_t c) {
      const double d = double(px[i]) - first[size_t(c)];
      return std::pair{d, d * d};
    });
  }
  for (int64_t c = 0; c < C; ++c) {
    const double d_mean = a[size_t(c)] / m;
    double v = b[size_t(c)] / m - d_mean * d_mean;
    if (v < 0) v = 0;  // rounding; a NaN stays NaN
    pmean[c] = T(first[size_t(c)] + d_mean);
    prstd[c] = T(1.0 / std::sqrt(v + eps));
    if (pvar) pvar[c] = T(v);
    scale[size_t(c)] = double(prstd[c]) * (pw ? double(pw[c]) : 1.0);  // from the stored statistics: see forward
    shift[size_t(c)] = (pb ? double(pb[c]) : 0.0) - double(pmean[c]) * scale[size_t(c)];
  }
#pragma omp parallel for schedule(static) if (total >= kGrain)
  for (int64_t n = 0; n < l.N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t s = 0; s < l.S; ++s) {
        const int64_t i = (n * C + c) * l.S + s;
        py[i] = T(double(px[i]) * scale[size_t(c)] + shift[size_t(c)]);
      }
}

template <class T>
void backward_by_columns(const kernels::NormLayout& l, const T* pg, const T* px, const T* pmean, const T* prstd,
                         const T* pw, T* pgx, T* pgw, T* pgb) {
  const int64_t C = l.C, total = l.N * C * l.S;
  const double m = double(l.stat_size());
  // Per channel: sum(gy) and sum(gy * xhat).
  std::vector<double> sum_g(size_t(C), 0.0), sum_gxhat(size_t(C), 0.0);
#pragma omp parallel for schedule(static) if (C > kChannelsPerTask && total >= kGrain)
  for (int64_t c0 = 0; c0 < C; c0 += kChannelsPerTask) {
    column_sums(l, c0, std::min(C, c0 + kChannelsPerTask), sum_g.data(), sum_gxhat.data(),
                   [&](int64_t i, int64_t c) {
                     const double g = double(pg[i]);
                     return std::pair{g, g * (double(px[i]) - double(pmean[c]))};
                   });
  }
  for (int64_t c = 0; c < C; ++c) {
    sum_gxhat[size_t(c)] *= double(prstd[c]);
    if (pgb) pgb[c] = T(sum_g[size_t(c)]);
    if (pgw) pgw[c] = T(sum_gxhat[size_t(c)]);
  }
  if (!pgx) return;
#pragma omp parallel for schedule(static) if (total >= kGrain)
  for (int64_t n = 0; n < l.N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      const double w = pw ? double(pw[c]) : 1.0, mu = double(pmean[c]), rs = double(prstd[c]);
      const double mean_g = w * sum_g[size_t(c)] / m, mean_gxhat = w * sum_gxhat[size_t(c)] / m;
      for (int64_t s = 0; s < l.S; ++s) {
        const int64_t i = (n * C + c) * l.S + s;
        const double xhat = (double(px[i]) - mu) * rs;
        pgx[i] = T(rs * (w * double(pg[i]) - mean_g - xhat * mean_gxhat));
      }
    }
}

// ---- every other layout: a statistic per run of rows ---------------------------------

// Row r = (n, c) of y = (x - mean) * rstd * w + b = x * scale + shift, in
// double from the statistics as stored (in T). The backward has only those,
// so the y the fused SiLU's backward recomputes has the forward's bits.
template <class T>
void affine_row(const kernels::NormLayout& l, int64_t r, const T* px, const T* pw, const T* pb, const T* pmean,
                const T* prstd, T* dst) {
  const int64_t c = r % l.C, k = l.stat_of(r / l.C, c);
  const double scale = double(prstd[k]) * (pw ? double(pw[c]) : 1.0);
  const double shift = (pb ? double(pb[c]) : 0.0) - double(pmean[k]) * scale;
  const T* src = px + r * l.S;
  for (int64_t s = 0; s < l.S; ++s) dst[s] = T(double(src[s]) * scale + shift);
}

template <class T>
void forward(const kernels::NormLayout& l, const Tensor& x, const Tensor& weight, const Tensor& bias, double eps,
             kernels::NormEpilogue epilogue, const Tensor& y, const Tensor& mean, const Tensor& rstd,
             const Tensor& var) {
  const T* px = x.data<T>();
  const T *pw = data_or_null<T>(weight), *pb = data_or_null<T>(bias);
  T *py = y.data<T>(), *pmean = mean.data<T>(), *prstd = rstd.data<T>(), *pvar = mutable_or_null<T>(var);
  if (by_columns(l)) {
    forward_by_columns(l, px, pw, pb, eps, py, pmean, prstd, pvar);
    if (epilogue == kernels::NormEpilogue::silu) unary(kernels::Unary::silu, y, y);
    return;
  }
  const int64_t stats = l.num_stats(), seg = l.group_channels() * l.S, total = l.N * l.C * l.S;
  const double m = double(l.stat_size());

  // Statistics in one pass, in double: the sums of d = x - x_0 and of d^2,
  // x_0 being the statistic's first element. The shift keeps the mean of d
  // near the spread of the data, so var = mean(d^2) - mean(d)^2 does not
  // cancel the way E[x^2] - E[x]^2 does when |mean| >> std.
#pragma omp parallel for schedule(static) if (stats > 1 && total >= kGrain)
  for (int64_t k = 0; k < stats; ++k) {
    const int64_t first_sample = l.per_sample ? k / l.G : 0;
    const T* first = px + (first_sample * l.C + (k % l.G) * l.group_channels()) * l.S;
    const double shift = seg > 0 ? double(*first) : 0.0;
    LaneSums sums;
    for_each_segment(l, px, k, [&](const T* p) { sums.add_shifted(p, seg, shift); });
    const double d_mean = sums.first() / m;
    double v = sums.second() / m - d_mean * d_mean;
    if (v < 0) v = 0;  // rounding; a NaN stays NaN
    pmean[k] = T(shift + d_mean);
    prstd[k] = T(1.0 / std::sqrt(v + eps));
    if (pvar) pvar[k] = T(v);
  }

  // y = (x - mean) * rstd * w + b = x * scale + shift, one (n, c) row of S at
  // a time, then the epilogue on the row while it is in cache.
#pragma omp parallel for schedule(static) if (total >= kGrain)
  for (int64_t r = 0; r < l.N * l.C; ++r) {
    T* dst = py + r * l.S;
    affine_row(l, r, px, pw, pb, pmean, prstd, dst);
    if (epilogue == kernels::NormEpilogue::silu) transcendental_span(kernels::Unary::silu, dst, dst, l.S);
  }
}

// With g' = gy * w and m elements per statistic, the input gradient is
//   gx = rstd * (g' - mean(g') - xhat * mean(g' * xhat))   (means per statistic)
// and gw = sum(gy * xhat), gb = sum(gy) per channel. Both need only the per
// (n, c) row sums of gy and gy * xhat, which are computed first.
template <class T>
void backward(const kernels::NormLayout& l, const Tensor& gy, const Tensor& x, const Tensor& mean, const Tensor& rstd,
              const Tensor& weight, const Tensor& gx, const Tensor& gw, const Tensor& gb) {
  const T *pg = gy.data<T>(), *px = x.data<T>(), *pmean = mean.data<T>(), *prstd = rstd.data<T>();
  const T* pw = data_or_null<T>(weight);
  T *pgx = mutable_or_null<T>(gx), *pgw = mutable_or_null<T>(gw), *pgb = mutable_or_null<T>(gb);
  if (by_columns(l)) return backward_by_columns(l, pg, px, pmean, prstd, pw, pgx, pgw, pgb);
  const int64_t rows = l.N * l.C, total = rows * l.S;
  std::vector<double> row_g(static_cast<size_t>(rows)), row_gxhat(static_cast<size_t>(rows));

#pragma omp parallel for schedule(static) if (total >= kGrain)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t k = l.stat_of(r / l.C, r % l.C);
    const double mu = double(pmean[k]);
    const T *g = pg + r * l.S, *xs = px + r * l.S;
    LaneSums sums;
    sums.add_gradient(g, xs, l.S, mu);
    row_g[r] = sums.first();
    row_gxhat[r] = sums.second() * double(prstd[k]);
  }

  if (pgw || pgb) {
    for (int64_t c = 0; c < l.C; ++c) {
      double a = 0, b = 0;
      for (int64_t n = 0; n < l.N; ++n) {
        a += row_g[n * l.C + c];
        b += row_gxhat[n * l.C + c];
      }
      if (pgb) pgb[c] = T(a);
      if (pgw) pgw[c] = T(b);
    }
  }
  if (!pgx) return;

  // Per statistic: mean(g') and mean(g' * xhat).
  const int64_t stats = l.num_stats();
  const double m = double(l.stat_size());
  std::vector<double> mean_g(static_cast<size_t>(stats), 0.0), mean_gxhat(static_cast<size_t>(stats), 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t c = r % l.C, k = l.stat_of(r / l.C, c);
    const double w = pw ? double(pw[c]) : 1.0;
    mean_g[k] += w * row_g[r] / m;
    mean_gxhat[k] += w * row_gxhat[r] / m;
  }

#pragma omp parallel for schedule(static) if (total >= kGrain)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t c = r % l.C, k = l.stat_of(r / l.C, c);
    const double w = pw ? double(pw[c]) : 1.0, mu = double(pmean[k]), rs = double(prstd[k]);
    const T *g = pg + r * l.S, *xs = px + r * l.S;
    T* out = pgx + r * l.S;
    for (int64_t s = 0; s < l.S; ++s) {
      const double xhat = (double(xs[s]) - mu) * rs;
      out[s] = T(rs * (w * double(g[s]) - mean_g[k] - xhat * mean_gxhat[k]));
    }
  }
}

// gy = gz * silu'(y), y recomputed row by row as the forward made it.
template <class T>
void silu_grad(const kernels::NormLayout& l, const Tensor& gz, const Tensor& x, const Tensor& weight,
               const Tensor& bias, const Tensor& mean, const Tensor& rstd, const Tensor& gy) {
  const T *pz = gz.data<T>(), *px = x.data<T>(), *pmean = mean.data<T>(), *prstd = rstd.data<T>();
  const T *pw = data_or_null<T>(weight), *pb = data_or_null<T>(bias);
  T* pgy = gy.data<T>();
  const int64_t rows = l.N * l.C, total = rows * l.S;
#pragma omp parallel for schedule(static) if (total >= kGrain)
  for (int64_t r = 0; r < rows; ++r) {
    T* dst = pgy + r * l.S;
    const T* g = pz + r * l.S;
    affine_row(l, r, px, pw, pb, pmean, prstd, dst);  // also the column path's arithmetic (there k = c)
    transcendental_span(kernels::Unary::silu_grad, dst, dst, l.S);
    for (int64_t s = 0; s < l.S; ++s) dst[s] = g[s] * dst[s];
  }
}

}  // namespace

void norm_forward(const kernels::NormLayout& l, const Tensor& x, const Tensor& weight, const Tensor& bias, double eps,
                  const Tensor& y, const Tensor& mean, const Tensor& rstd, const Tensor& var,
                  kernels::NormEpilogue epilogue) {
  dispatch_float(x.dtype(), [&]<class T>() { forward<T>(l, x, weight, bias, eps, epilogue, y, mean, rstd, var); });
}

void norm_silu_grad(const kernels::NormLayout& l, const Tensor& gz, const Tensor& x, const Tensor& weight,
                    const Tensor& bias, const Tensor& mean, const Tensor& rstd, const Tensor& gy) {
  dispatch_float(x.dtype(), [&]<class T>() { silu_grad<T>(l, gz, x, weight, bias, mean, rstd, gy); });
}

void norm_backward(const kernels::NormLayout& l, const Tensor& gy, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                   const Tensor& weight, const Tensor& gx, const Tensor& gw, const Tensor& gb) {
  dispatch_float(x.dtype(), [&]<class T>() { backward<T>(l, gy, x, mean, rstd, weight, gx, gw, gb); });
}

}  // namespace ng::cpu
