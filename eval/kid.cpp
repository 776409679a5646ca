// KID: the unbiased MMD^2 between feature sets under the cubic polynomial
// kernel, averaged over random subsets (Binkowski et al. 2018).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "engine/nanogen.h"
#include "eval/feature_input.h"
#include "eval/metrics.h"

namespace ng::eval {

namespace {

// Sum of k(x_i, y_j) = (x_i.y_j / D + 1)^3 over all i, j, or over i != j
// when x and y are the same set. The rows are summed into their own slots and
// added up in order, so the result does not depend on the thread count.
double polynomial_kernel_sum(const Tensor& x, const Tensor& y, bool skip_diagonal) {
  const Tensor gram = matmul(x, y.t());  // [m, n] of dot products, one GEMM
  const int64_t m = x.size(0), n = y.size(0);
  const double inv_d = 1.0 / double(x.size(1));
  const double* g = gram.data<double>();
  std::vector<double> row_sums(size_t(m), 0.0);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < m; ++i) {
    double s = 0;
    for (int64_t j = 0; j < n; ++j) {
      if (skip_diagonal && i == j) continue;
      const double k = g[i * n + j] * inv_d + 1.0;
      s += k * k * k;
    }
    row_sums[size_t(i)] = s;
  }
  return std::accumulate(row_sums.begin(), row_sums.end(), 0.0);
}

double mmd2_of_checked(const Tensor& x, const Tensor& y) {
  const double m = double(x.size(0)), n = double(y.size(0));
  return polynomial_kernel_sum(x, x, true) / (m * (m - 1)) + polynomial_kernel_sum(y, y, true) / (n * (n - 1)) -
         2.0 * polynomial_kernel_sum(x, y, false) / (m * n);
}

// A uniform integer in [0, bound) by rejection, so the subsets depend only on
// the standard-specified mt19937_64 stream, not on a library's
// uniform_int_distribution.
uint64_t uniform_below(std::mt19937_64& rng, uint64_t bound) {
  const uint64_t limit = std::mt19937_64::max() - std::mt19937_64::max() % bound;
  uint64_t r;
  do r = rng(); while (r >= limit);
  return r % bound;
}

// `size` distinct rows of `x`, chosen by a partial Fisher-Yates shuffle of
// `order` (any permutation of the row indices; it stays one).
Tensor random_rows(const Tensor& x, int64_t size, std::vector<int64_t>& order, std::mt19937_64& rng) {
  const int64_t n = x.size(0), d = x.size(1);
  for (int64_t i = 0; i < size; ++i)
    std::swap(order[size_t(i)], order[size_t(i + int64_t(uniform_below(rng, uint64_t(n - i))))]);
  Tensor out = empty({size, d}, x.options());
  const double* src = x.data<double>();
  double* dst = out.data<double>();
  for (int64_t i = 0; i < size; ++i)
    std::memcpy(dst + i * d, src + order[size_t(i)] * d, size_t(d) * sizeof(double));
  return out;
}

}  // namespace

double mmd2_unbiased_polynomial(const Tensor& x, const Tensor& y) {
  // Leaving out the diagonal leaves m (m - 1) pairs: two rows at least.
  const Tensor a = as_feature_matrix(x, "mmd2_unbiased_polynomial", "x", 2);
  const Tensor b = as_feature_matrix(y, "mmd2_unbiased_polynomial", "y", 2);
  check_same_width(a, b, "mmd2_unbiased_polynomial", "x", "y");
  return mmd2_of_checked(a, b);
}

KIDResult kid(const Tensor& features_a, const Tensor& features_b, int64_t subsets, int64_t subset_size,
              uint64_t seed) {
  const Tensor a = as_feature_matrix(features_a, "kid", "features_a", 2);
  const Tensor b = as_feature_matrix(features_b, "kid", "features_b", 2);
  check_same_width(a, b, "kid", "features_a", "features_b");
  NG_CHECK(subsets >= 1, "kid: subsets is ", subsets, "; expected at least 1");
  NG_CHECK(subset_size >= 2, "kid: subset_size is ", subset_size, "; the unbiased estimator needs at least 2");

  KIDResult r;
  r.subsets = subsets;
  r.subset_size = std::min({subset_size, a.size(0), b.size(0)});
  // One stream for the whole call: subset s draws its rows of a, then its rows of b.
  std::mt19937_64 rng(seed);
  std::vector<int64_t> order_a(size_t(a.size(0))), order_b(size_t(b.size(0)));
  std::iota(order_a.begin(), order_a.end(), int64_t(0));
  std::iota(order_b.begin(), order_b.end(), int64_t(0));
  std::vector<double> values;
  for (int64_t s = 0; s < subsets; ++s) {
    const Tensor xa = random_rows(a, r.subset_size, order_a, rng);
    const Tensor xb = random_rows(b, r.subset_size, order_b, rng);
    values.push_back(mmd2_of_checked(xa, xb));
  }
  r.mean = std::accumulate(values.begin(), values.end(), 0.0) / double(subsets);
  // The population standard deviation over subsets (divided by the number of
  // subsets), as Binkowski et al.'s code reports it: the spread of one
  // subset's estimate, not the standard error of the mean.
  double squares = 0;
  for (double v : values) squares += (v - r.mean) * (v - r.mean);
  r.std = std::sqrt(squares / double(subsets));
  return r;
}

}  // namespace ng::eval
