// KID: the unbiased MMD^2 estimator with the cubic polynomial kernel on a case
// written out by hand, its behaviour on equal and shifted distributions, and
// the subset bookkeeping (determinism, shrinking, errors).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "engine/nanogen.h"
#include "eval/metrics.h"
#include "support/gradcheck.h"

using namespace ng;

static const TensorOptions kF64 = TensorOptions{}.with_dtype(DType::f64);

TEST(Mmd2UnbiasedPolynomial, HandComputedCase) {
  // X = {(0,0), (1,0), (0,1)}, Y = {(1,1), (2,0)}, D = 2, k(x,y) = (x.y/2 + 1)^3.
  // XX, i != j: every dot product is 0, so 6 ordered pairs of k = 1: 6 / (3*2) = 1.
  // YY, i != j: y0.y1 = 2, k = 2^3 = 8, twice: 16 / (2*1) = 8.
  // XY: dots 0,0 | 1,2 | 1,0 -> k = 1,1 | 3.375,8 | 3.375,1, sum 17.75: 2 * 17.75 / 6.
  // MMD^2 = 1 + 8 - 35.5/6 = 37/12.
  const Tensor x = from_vector(std::vector<double>{0, 0, 1, 0, 0, 1}, {3, 2});
  const Tensor y = from_vector(std::vector<double>{1, 1, 2, 0}, {2, 2});
  EXPECT_NEAR(eval::mmd2_unbiased_polynomial(x, y), 37.0 / 12.0, 1e-14);
  // The estimator is symmetric in its two sets; float32 is accepted.
  EXPECT_NEAR(eval::mmd2_unbiased_polynomial(y.to(DType::f32), x.to(DType::f32)), 37.0 / 12.0, 1e-14);
}

// The same estimator by brute force, one kernel evaluation at a time.
static double mmd2_reference(const Tensor& x, const Tensor& y) {
  const std::vector<double> a = x.to_vector<double>(), b = y.to_vector<double>();
  const size_t m = size_t(x.size(0)), n = size_t(y.size(0)), d = size_t(x.size(1));
  auto k = [d](const double* p, const double* q) {
    double dot = 0;
    for (size_t i = 0; i < d; ++i) dot += p[i] * q[i];
    return std::pow(dot / double(d) + 1, 3);
  };
  double xx = 0, yy = 0, xy = 0;
  for (size_t i = 0; i < m; ++i)
    for (size_t j = 0; j < m; ++j)
      if (i != j) xx += k(&a[i * d], &a[j * d]);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < n; ++j)
      if (i != j) yy += k(&b[i * d], &b[j * d]);
  for (size_t i = 0; i < m; ++i)
    for (size_t j = 0; j < n; ++j) xy += k(&a[i * d], &b[j * d]);
  return xx / double(m * (m - 1)) + yy / double(n * (n - 1)) - 2 * xy / double(m * n);
}

TEST(Mmd2UnbiasedPolynomial, AgreesWithBruteForce) {
  const Tensor x = test::uniform({23, 7}, 1), y = add(test::uniform({31, 7}, 2), 0.2);
  const double ref = mmd2_reference(x, y);
  EXPECT_NEAR(eval::mmd2_unbiased_polynomial(x, y), ref, 1e-12 * std::max(1.0, std::fabs(ref)));
}

TEST(Kid, SameDistributionAveragesZeroAndAShiftIsClearlyPositive) {
  Generator gen(7);
  const Tensor a = randn({1500, 16}, gen, kF64), b = randn({1500, 16}, gen, kF64);
  const eval::KIDResult same = eval::kid(a, b, 50, 300, 1);
  EXPECT_EQ(same.subsets, 50);
  EXPECT_EQ(same.subset_size, 300);
  EXPECT_GT(same.std, 0);
  // Unbiased: the mean over subsets is ~0. The subsets overlap, so the mean's
  // standard error is larger than std / sqrt(50) (about 3x): allow 12 of those.
  EXPECT_LT(std::fabs(same.mean), 12 * same.std / std::sqrt(50.0)) << same.mean << " +- " << same.std;
  // A shift of 0.5 in every coordinate: MMD^2 is clearly positive.
  const eval::KIDResult shifted = eval::kid(a, add(b, 0.5), 50, 300, 1);
  EXPECT_GT(shifted.mean, 20 * shifted.std / std::sqrt(50.0));
  EXPECT_GT(shifted.mean, 100 * std::fabs(same.mean));
}

TEST(Kid, OneSubsetOfEveryRowIsTheFullEstimate) {
  // subset_size 100 shrinks to the 40 rows of the smaller set; a subset of
  // every row is a permutation of them, and the estimator does not see order.
  const Tensor a = test::uniform({40, 5}, 3), b = test::uniform({40, 5}, 4, -0.5, 1.5);
  const eval::KIDResult r = eval::kid(a, b, 1, 100, 9);
  EXPECT_EQ(r.subsets, 1);
  EXPECT_EQ(r.subset_size, 40);
  EXPECT_EQ(r.std, 0);
  EXPECT_NEAR(r.mean, mmd2_reference(a, b), 1e-12);
}

TEST(Kid, TheSeedFixesTheSubsets) {
  const Tensor a = test::uniform({200, 4}, 5), b = test::uniform({250, 4}, 6, -1, 1.2);
  const eval::KIDResult r1 = eval::kid(a, b, 10, 50, 123), r2 = eval::kid(a, b, 10, 50, 123);
  const eval::KIDResult r3 = eval::kid(a, b, 10, 50, 124);
  EXPECT_EQ(r1.mean, r2.mean);
  EXPECT_EQ(r1.std, r2.std);
  EXPECT_NE(r1.mean, r3.mean);
}

TEST(Kid, PopulationStdOverSubsets) {
  // Two subsets: std = |v1 - v2| / 2 (population, divided by the count).
  const Tensor a = test::uniform({30, 3}, 7), b = test::uniform({30, 3}, 8, 0, 1);
  const eval::KIDResult two = eval::kid(a, b, 2, 10, 77);
  const eval::KIDResult first = eval::kid(a, b, 1, 10, 77);  // the same stream: subset 0
  const double v1 = first.mean, v2 = 2 * two.mean - v1;
  EXPECT_NEAR(two.std, std::fabs(v1 - v2) / 2, 1e-14);
}

TEST(Kid, ErrorsNameTheProblem) {
  test::expect_error([] { eval::kid(zeros({10, 3}, kF64), zeros({10, 4}, kF64)); },
                     {"kid", "[10,3]", "[10,4]", "feature widths"});
  test::expect_error([] { eval::kid(zeros({10, 3}, kF64), zeros({10, 3}, kF64), 0); }, {"kid", "subsets is 0"});
  test::expect_error([] { eval::kid(zeros({10, 3}, kF64), zeros({10, 3}, kF64), 5, 1); },
                     {"kid", "subset_size is 1"});
  test::expect_error([] { eval::mmd2_unbiased_polynomial(zeros({1, 3}, kF64), zeros({5, 3}, kF64)); },
                     {"mmd2_unbiased_polynomial", "x", "[1,3]", "at least 2"});
}
