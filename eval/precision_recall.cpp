// Precision and recall of k-NN manifolds (Kynkaanniemi et al. 2019).
#include <cmath>
#include <vector>

#include "engine/nanogen.h"
#include "eval/distance_blocks.h"
#include "eval/feature_input.h"
#include "eval/k_smallest.h"
#include "eval/metrics.h"

namespace ng::eval {

namespace {

// Squared distance of each row of x to its k-th nearest other row of x.
std::vector<double> squared_knn_radii(const Tensor& x, int64_t k, int64_t block_rows) {
  std::vector<double> radii(size_t(x.size(0)));
  const int64_t n = x.size(0);
  for_each_distance_block(x, x, block_rows, [&](int64_t first, const Tensor& block) {
    const double* d = block.data<double>();
#pragma omp parallel
    {
      std::vector<Candidate> best(static_cast<size_t>(k));
#pragma omp for schedule(static)
      for (int64_t r = 0; r < block.size(0); ++r) {
        // The point itself is excluded by its index, not by its zero distance,
        // so a duplicate of it still counts as a neighbour.
        k_smallest(d + r * n, n, k, first + r, best.data());
        radii[size_t(first + r)] = best[size_t(k - 1)].value;
      }
    }
  });
  return radii;
}

void check_k(const Tensor& x, int64_t k, const char* op, const char* what) {
  NG_CHECK(k >= 1, op, ": k is ", k, "; expected at least 1");
  NG_CHECK(x.size(0) > k, op, ": ", what, " ", shape_str(x.shape()), " has ", x.size(0), " rows; the ", k,
           "-th nearest neighbour of a point (itself excluded) needs at least ", k + 1);
}

}  // namespace

Tensor k_nearest_radii(const Tensor& features, int64_t k, int64_t block_rows) {
  const Tensor x = as_feature_matrix(features, "k_nearest_radii", "features");
  check_k(x, k, "k_nearest_radii", "features");
  std::vector<double> radii = squared_knn_radii(x, k, block_rows);
  for (double& r : radii) r = std::sqrt(r);
  return from_vector(radii, {x.size(0)});
}

PrecisionRecall precision_recall(const Tensor& real, const Tensor& fake, int64_t k, int64_t block_rows) {
  const char* op = "precision_recall";
  const Tensor r = as_feature_matrix(real, op, "real");
  const Tensor f = as_feature_matrix(fake, op, "fake");
  check_same_width(r, f, op, "real", "fake");
  check_k(r, k, op, "real");
  check_k(f, k, op, "fake");
  const int64_t n_real = r.size(0), n_fake = f.size(0);
  const std::vector<double> radii_real = squared_knn_radii(r, k, block_rows);
  const std::vector<double> radii_fake = squared_knn_radii(f, k, block_rows);

  // One pass over the fake x real distances answers both questions: a fake
  // row inside some real ball (precision), and which real rows lie inside
  // some fake ball (recall). Balls are closed: distance <= radius.
  std::vector<uint8_t> fake_in_real(size_t(n_fake), 0), real_in_fake(size_t(n_real), 0);
  for_each_distance_block(f, r, block_rows, [&](int64_t first, const Tensor& block) {
    const double* d = block.data<double>();
#pragma omp parallel
    {
      std::vector<uint8_t> covered(size_t(n_real), 0);  // this thread's real rows inside a fake ball
#pragma omp for schedule(static)
      for (int64_t row = 0; row < block.size(0); ++row) {
        const double* dist = d + row * n_real;
        const double radius_fake = radii_fake[size_t(first + row)];
        uint8_t inside = 0;
        for (int64_t i = 0; i < n_real; ++i) {
          inside |= uint8_t(dist[i] <= radii_real[size_t(i)]);
          covered[size_t(i)] |= uint8_t(dist[i] <= radius_fake);
        }
        fake_in_real[size_t(first + row)] = inside;
      }
#pragma omp critical
      for (int64_t i = 0; i < n_real; ++i) real_in_fake[size_t(i)] |= covered[size_t(i)];
    }
  });

  PrecisionRecall out;
  out.k = k;
  int64_t precise = 0, recalled = 0;
  for (uint8_t v : fake_in_real) precise += v;
  for (uint8_t v : real_in_fake) recalled += v;
  out.precision = double(precise) / double(n_fake);
  out.recall = double(recalled) / double(n_real);
  return out;
}

}  // namespace ng::eval
