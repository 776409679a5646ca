#include "eval/distance_blocks.h"

#include <algorithm>

#include "engine/nanogen.h"
#include "eval/feature_input.h"
#include "eval/metrics.h"

namespace ng::eval {

namespace {

std::vector<double> squared_row_norms(const Tensor& x) {
  const int64_t n = x.size(0), d = x.size(1);
  const double* p = x.data<double>();
  std::vector<double> norms(static_cast<size_t>(n));
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    double s = 0;
    for (int64_t j = 0; j < d; ++j) s += p[i * d + j] * p[i * d + j];
    norms[size_t(i)] = s;
  }
  return norms;
}

}  // namespace

int64_t distance_block_rows(int64_t block_rows, int64_t n_rows, int64_t n_cols) {
  if (block_rows <= 0) block_rows = kDistanceBlockElements / std::max<int64_t>(n_cols, 1);
  return std::clamp<int64_t>(block_rows, 1, std::max<int64_t>(n_rows, 1));
}

void for_each_distance_block(const Tensor& a, const Tensor& b, int64_t block_rows, const DistanceBlockVisitor& visit) {
  const int64_t m = a.size(0), n = b.size(0);
  const std::vector<double> norms_a = squared_row_norms(a), norms_b = squared_row_norms(b);
  const int64_t step = distance_block_rows(block_rows, m, n);
  for (int64_t first = 0; first < m; first += step) {
    const int64_t rows = std::min(step, m - first);
    // One GEMM gives every dot product of the block; b.t() is a view BLAS reads transposed.
    Tensor block = matmul(a.narrow(0, first, rows), b.t());
    double* g = block.data<double>();
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < n; ++j) {
        double& x = g[r * n + j];
        x = std::max(norms_a[size_t(first + r)] + norms_b[size_t(j)] - 2.0 * x, 0.0);
      }
    visit(first, block);
  }
}

Tensor pairwise_squared_distances(const Tensor& a, const Tensor& b) {
  const Tensor x = as_feature_matrix(a, "pairwise_squared_distances", "a");
  const Tensor y = as_feature_matrix(b, "pairwise_squared_distances", "b");
  check_same_width(x, y, "pairwise_squared_distances", "a", "b");
  Tensor out;
  for_each_distance_block(x, y, x.size(0), [&](int64_t, const Tensor& block) { out = block; });
  return out;
}

}  // namespace ng::eval
