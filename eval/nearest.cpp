// The training images nearest to generated ones: exact k-NN by blocked GEMM.
#include "eval/nearest.h"

#include <algorithm>
#include <cmath>

#include "engine/nanogen.h"
#include "eval/distance_blocks.h"
#include "eval/feature_input.h"
#include "eval/k_smallest.h"

namespace ng::eval {

Neighbours nearest_neighbours(const Tensor& queries, const Tensor& reference, int64_t k, int64_t block_rows) {
  const char* op = "nearest_neighbours";
  const Tensor q = as_feature_matrix(queries, op, "queries");
  const Tensor ref = as_feature_matrix(reference, op, "reference");
  check_same_width(q, ref, op, "queries", "reference");
  NG_CHECK(k >= 1, op, ": k is ", k, "; expected at least 1");
  NG_CHECK(ref.size(0) >= k, op, ": reference ", shape_str(ref.shape()), " has ", ref.size(0), " rows; fewer than k = ", k);

  const int64_t m = q.size(0), n = ref.size(0);
  Neighbours out;
  out.index.assign(size_t(m), std::vector<int64_t>(size_t(k)));
  out.distance.assign(size_t(m), std::vector<double>(size_t(k)));
  for_each_distance_block(q, ref, block_rows, [&](int64_t first, const Tensor& block) {
    const double* d = block.data<double>();
#pragma omp parallel
    {
      std::vector<Candidate> best(static_cast<size_t>(k));
#pragma omp for schedule(static)
      for (int64_t r = 0; r < block.size(0); ++r) {
        k_smallest(d + r * n, n, k, -1, best.data());
        for (int64_t j = 0; j < k; ++j) {
          out.index[size_t(first + r)][size_t(j)] = best[size_t(j)].index;
          out.distance[size_t(first + r)][size_t(j)] = std::sqrt(best[size_t(j)].value);
        }
      }
    }
  });
  return out;
}

double median_nearest_distance(const Tensor& queries, const Tensor& reference) {
  const Neighbours nn = nearest_neighbours(queries, reference, 1);
  std::vector<double> d;
  d.reserve(nn.distance.size());
  for (const auto& row : nn.distance) d.push_back(row[0]);
  std::sort(d.begin(), d.end());
  const size_t h = d.size() / 2;
  // An even count has two middle values: their mean, as NumPy's median.
  return d.size() % 2 ? d[h] : 0.5 * (d[h - 1] + d[h]);
}

}  // namespace ng::eval
