// Sample-quality metrics computed in a feature space: the feature vectors of
// generated images against those of real ones. Every function takes features
// as [N, D] CPU tensors (one row per image; float32 is converted) and works in
// double. Inputs are checked (2-D, same D, finite, enough rows) and a failed
// check throws ng::Error naming the function and the shapes.
//
//   FID   Frechet distance between the two feature Gaussians (Heusel et al. 2017)
//   KID   unbiased MMD^2 with the cubic polynomial kernel (Binkowski et al. 2018)
//   P/R   precision and recall of k-NN manifolds (Kynkaanniemi et al. 2019)
//
// The derivations and the choices (subset sizes, k, the eigen-decomposition
// route to the matrix square root) are in docs/eval.md.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/tensor.h"

namespace ng::eval {

// The mean [D] and covariance [D, D] (unbiased, divided by N - 1) of features [N, D].
struct FeatureGaussian {
  Tensor mean;        // [D] float64
  Tensor covariance;  // [D, D] float64, symmetric
};
FeatureGaussian feature_gaussian(const Tensor& features);

// ||mu_a - mu_b||^2 + tr(S_a) + tr(S_b) - 2 tr((S_a^1/2 S_b S_a^1/2)^1/2).
// The square roots come from symmetric eigen-decompositions (LAPACK dsyev);
// eigenvalues within rounding of zero (|l| <= D eps max|l|, numpy's
// matrix_rank tolerance) count as zero, so singular covariances stay accurate.
double frechet_distance(const FeatureGaussian& a, const FeatureGaussian& b);
double fid(const Tensor& features_a, const Tensor& features_b);

// Eigenvalues (ascending) and eigenvectors (columns) of a symmetric matrix [D, D].
struct SymmetricEigen {
  Tensor values;   // [D]
  Tensor vectors;  // [D, D], column j belongs to values[j]
};
SymmetricEigen symmetric_eigen(const Tensor& matrix);

// k(x, y) = (x.y / D + 1)^3. The unbiased estimator of MMD^2 from X [m, D] and Y [n, D]:
//   sum_{i != j} k(x_i, x_j) / (m (m-1)) + sum_{i != j} k(y_i, y_j) / (n (n-1)) - 2 sum_{i,j} k(x_i, y_j) / (m n).
double mmd2_unbiased_polynomial(const Tensor& x, const Tensor& y);

// KID: the mean and standard deviation of mmd2_unbiased_polynomial over
// `subsets` random subsets of `subset_size` rows of each (without replacement
// inside a subset; smaller sets shrink the subset size to the smaller N).
// The subsets come from a std::mt19937_64 seeded with `seed` (subset s draws
// its rows of a, then of b), so a seed gives the same result everywhere.
// `std` is the population standard deviation over the subsets (as Binkowski
// et al.'s code reports it): the spread of one subset's estimate. The
// subsets overlap, so their estimates are correlated and std / sqrt(subsets)
// understates the standard error of `mean` (by about 3x in a test with
// 100 subsets of 200 from 2000 rows); compare KIDs by their spread, not by it.
struct KIDResult {
  double mean = 0, std = 0;
  int64_t subsets = 0, subset_size = 0;
};
KIDResult kid(const Tensor& features_a, const Tensor& features_b, int64_t subsets = 100, int64_t subset_size = 1000,
              uint64_t seed = 0);

// Kynkaanniemi et al.: each set's manifold is the union of balls around its
// points with radius the distance to the point's k-th nearest neighbour in
// the same set (itself excluded). precision = fraction of fake points inside
// the real manifold; recall = fraction of real points inside the fake one.
struct PrecisionRecall {
  double precision = 0, recall = 0;
  int64_t k = 3;
};
// Distances are computed a block of rows at a time (block_rows rows against a
// whole set; 0 picks blocks of about 64 MB), so 10,000 x 10,000 never sits in
// memory at once; the result does not depend on the block size.
PrecisionRecall precision_recall(const Tensor& real, const Tensor& fake, int64_t k = 3, int64_t block_rows = 0);

// The radius of each row's ball above: the distance to its k-th nearest other
// row of the same set ([N] float64; a duplicate row counts as a neighbour).
Tensor k_nearest_radii(const Tensor& features, int64_t k = 3, int64_t block_rows = 0);

// Squared Euclidean distances between the rows of a [m, D] and b [n, D]:
// [m, n] float64, ||a||^2 + ||b||^2 - 2 a.b by GEMM, clamped at 0.
Tensor pairwise_squared_distances(const Tensor& a, const Tensor& b);

}  // namespace ng::eval
