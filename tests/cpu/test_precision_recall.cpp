// Precision and recall of k-NN manifolds: the limiting cases (identical,
// disjoint, half a mode dropped), a brute-force O(n^2) reference with the
// blocking exercised, the pairwise distances and the k-NN radii.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/nanogen.h"
#include "eval/metrics.h"
#include "support/gradcheck.h"

using namespace ng;

static const TensorOptions kF64 = TensorOptions{}.with_dtype(DType::f64);

// Squared distance between row i of a and row j of b, coordinate by coordinate.
static double direct_d2(const std::vector<double>& a, size_t i, const std::vector<double>& b, size_t j, size_t d) {
  double s = 0;
  for (size_t c = 0; c < d; ++c) s += (a[i * d + c] - b[j * d + c]) * (a[i * d + c] - b[j * d + c]);
  return s;
}

// Distances to the k-th nearest other row, by sorting every row's distances.
static std::vector<double> radii_reference(const Tensor& x, int64_t k) {
  const std::vector<double> v = x.to_vector<double>();
  const size_t n = size_t(x.size(0)), d = size_t(x.size(1));
  std::vector<double> radii(n);
  for (size_t i = 0; i < n; ++i) {
    std::vector<double> dist;
    for (size_t j = 0; j < n; ++j)
      if (j != i) dist.push_back(direct_d2(v, i, v, j, d));
    std::sort(dist.begin(), dist.end());
    radii[i] = std::sqrt(dist[size_t(k - 1)]);
  }
  return radii;
}

// The fraction of rows of `x` inside some ball around a row of `y` with the given radii.
static double fraction_inside(const Tensor& x, const Tensor& y, const std::vector<double>& radii_y) {
  const std::vector<double> a = x.to_vector<double>(), b = y.to_vector<double>();
  const size_t m = size_t(x.size(0)), n = size_t(y.size(0)), d = size_t(x.size(1));
  size_t inside = 0;
  for (size_t i = 0; i < m; ++i)
    for (size_t j = 0; j < n; ++j)
      if (std::sqrt(direct_d2(a, i, b, j, d)) <= radii_y[j]) {
        ++inside;
        break;
      }
  return double(inside) / double(m);
}

TEST(PairwiseSquaredDistances, MatchTheDirectFormula) {
  const Tensor a = test::uniform({9, 4}, 1), b = test::uniform({6, 4}, 2, -2, 2);
  const Tensor d2 = eval::pairwise_squared_distances(a, b);
  ASSERT_EQ(d2.shape(), Shape({9, 6}));
  const std::vector<double> va = a.to_vector<double>(), vb = b.to_vector<double>(), got = d2.to_vector<double>();
  for (size_t i = 0; i < 9; ++i)
    for (size_t j = 0; j < 6; ++j) EXPECT_NEAR(got[i * 6 + j], direct_d2(va, i, vb, j, 4), 1e-13);
  // Rounding never leaves a negative distance: a row against itself is >= 0 (and ~0).
  for (double v : eval::pairwise_squared_distances(a, a).to_vector<double>()) EXPECT_GE(v, 0.0);
}

TEST(KNearestRadii, AgreeWithSortingWithBlocksOfSeveralSizes) {
  const Tensor x = test::uniform({41, 5}, 3);
  for (int64_t k : {1, 3, 7}) {
    const std::vector<double> ref = radii_reference(x, k);
    for (int64_t block : {0, 1, 6, 41, 100}) {
      const std::vector<double> got = eval::k_nearest_radii(x, k, block).to_vector<double>();
      for (size_t i = 0; i < ref.size(); ++i)
        EXPECT_NEAR(got[i], ref[i], 1e-12) << "k " << k << " block " << block << " row " << i;
    }
  }
}

TEST(KNearestRadii, ADuplicateIsANeighbourAtDistanceZero) {
  // Rows 0 and 1 coincide: each is the other's nearest neighbour (k = 1).
  const Tensor x = from_vector(std::vector<double>{0, 0, 0, 0, 3, 4}, {3, 2});
  const std::vector<double> r = eval::k_nearest_radii(x, 1).to_vector<double>();
  EXPECT_EQ(r[0], 0.0);
  EXPECT_EQ(r[1], 0.0);
  EXPECT_NEAR(r[2], 5.0, 1e-14);
}

TEST(PrecisionRecall, IdenticalSetsGiveOneAndOne) {
  const Tensor x = test::uniform({120, 8}, 4);
  const eval::PrecisionRecall pr = eval::precision_recall(x, x.clone(), 3, 17);
  EXPECT_EQ(pr.precision, 1.0);
  EXPECT_EQ(pr.recall, 1.0);
  EXPECT_EQ(pr.k, 3);
}

TEST(PrecisionRecall, FarApartCloudsGiveZeroAndZero) {
  const Tensor real = test::uniform({80, 6}, 5), fake = add(test::uniform({70, 6}, 6), 100.0);
  const eval::PrecisionRecall pr = eval::precision_recall(real, fake, 3, 9);
  EXPECT_EQ(pr.precision, 0.0);
  EXPECT_EQ(pr.recall, 0.0);
}

TEST(PrecisionRecall, DroppingOneOfTwoModesHalvesRecallOnly) {
  // The real data has two modes far apart, 100 points each; the fake set is
  // exactly the first mode. Every fake point is a real point (precision 1);
  // the second mode lies outside every fake ball (recall 1/2).
  const Tensor mode_a = test::uniform({100, 4}, 7), mode_b = add(test::uniform({100, 4}, 8), 50.0);
  const Tensor real = cat({mode_a, mode_b}, 0);
  const eval::PrecisionRecall exact = eval::precision_recall(real, mode_a.clone(), 3, 32);
  EXPECT_EQ(exact.precision, 1.0);
  EXPECT_EQ(exact.recall, 0.5);
  // A fresh sample of the first mode: nearly all of it is precise, and it
  // recalls about the first mode's half.
  const eval::PrecisionRecall sample = eval::precision_recall(real, test::uniform({100, 4}, 9), 3, 32);
  EXPECT_GT(sample.precision, 0.85);
  EXPECT_LE(sample.recall, 0.5);
  EXPECT_GT(sample.recall, 0.35);
}

TEST(PrecisionRecall, BlockedAgreesExactlyWithBruteForce) {
  const Tensor real = test::uniform({57, 5}, 10), fake = add(test::uniform({43, 5}, 11), 0.7);
  for (int64_t k : {1, 3, 5}) {
    const double precision = fraction_inside(fake, real, radii_reference(real, k));
    const double recall = fraction_inside(real, fake, radii_reference(fake, k));
    // Not a trivial case: both strictly between 0 and 1.
    EXPECT_GT(precision, 0.0);
    EXPECT_LT(precision, 1.0);
    EXPECT_GT(recall, 0.0);
    EXPECT_LT(recall, 1.0);
    for (int64_t block : {0, 1, 7, 43, 57}) {
      const eval::PrecisionRecall pr = eval::precision_recall(real, fake, k, block);
      EXPECT_EQ(pr.precision, precision) << "k " << k << " block " << block;
      EXPECT_EQ(pr.recall, recall) << "k " << k << " block " << block;
    }
  }
}

TEST(PrecisionRecall, ErrorsNameTheShapes) {
  test::expect_error([] { eval::precision_recall(zeros({10, 3}, kF64), zeros({10, 4}, kF64)); },
                     {"precision_recall", "[10,3]", "[10,4]", "feature widths"});
  test::expect_error([] { eval::precision_recall(zeros({10, 3}, kF64), zeros({3, 3}, kF64), 3); },
                     {"precision_recall", "fake", "[3,3]", "at least 4"});
  test::expect_error([] { eval::precision_recall(zeros({10, 3}, kF64), zeros({10, 3}, kF64), 0); },
                     {"precision_recall", "k is 0"});
  test::expect_error([] { eval::precision_recall(zeros({2, 5, 3}, kF64), zeros({10, 3}, kF64)); },
                     {"precision_recall", "real", "[2,5,3]", "[N, D]"});
}
