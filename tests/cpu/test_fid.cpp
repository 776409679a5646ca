// FID and its parts: the symmetric eigen-decomposition (reconstruction,
// orthonormality, known eigenvalues), the feature Gaussian, and the Frechet
// distance against closed forms on feature sets built to have exactly chosen
// sample means and covariances.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/nanogen.h"
#include "eval/metrics.h"
#include "support/gradcheck.h"

using namespace ng;
using Matrix = std::vector<std::vector<double>>;

static const TensorOptions kF64 = TensorOptions{}.with_dtype(DType::f64);

static Matrix to_matrix(const Tensor& t) {
  const std::vector<double> v = t.to_vector<double>();
  const size_t r = size_t(t.size(0)), c = size_t(t.size(1));
  Matrix m(r, std::vector<double>(c));
  for (size_t i = 0; i < r; ++i)
    for (size_t j = 0; j < c; ++j) m[i][j] = v[i * c + j];
  return m;
}

static Tensor from_matrix(const Matrix& m) {
  std::vector<double> v;
  for (const auto& row : m) v.insert(v.end(), row.begin(), row.end());
  return from_vector(v, {int64_t(m.size()), int64_t(m[0].size())});
}

// L with L L^T = s (textbook Cholesky-Banachiewicz), written here so that the
// test data does not come from the code under test.
static Matrix cholesky(const Matrix& s) {
  const size_t n = s.size();
  Matrix l(n, std::vector<double>(n, 0.0));
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j <= i; ++j) {
      double v = s[i][j];
      for (size_t p = 0; p < j; ++p) v -= l[i][p] * l[j][p];
      l[i][j] = i == j ? std::sqrt(v) : v / l[j][j];
    }
  return l;
}

// Rows whose sample mean is exactly `mean` and whose unbiased sample
// covariance is exactly `chol` chol^T (up to rounding): random rows are
// centred, whitened with the Cholesky factor of their own covariance, then
// coloured with `chol`.
static Tensor with_exact_moments(int64_t n, const std::vector<double>& mean, const Matrix& chol, uint64_t seed) {
  const size_t d = mean.size();
  Matrix z = to_matrix(test::uniform({n, int64_t(d)}, seed));
  std::vector<double> mu(d, 0.0);
  for (const auto& row : z)
    for (size_t j = 0; j < d; ++j) mu[j] += row[j] / double(n);
  for (auto& row : z)
    for (size_t j = 0; j < d; ++j) row[j] -= mu[j];
  Matrix c(d, std::vector<double>(d, 0.0));
  for (const auto& row : z)
    for (size_t i = 0; i < d; ++i)
      for (size_t j = 0; j < d; ++j) c[i][j] += row[i] * row[j] / double(n - 1);
  const Matrix lc = cholesky(c);
  Matrix out(static_cast<size_t>(n), std::vector<double>(d, 0.0));
  for (size_t r = 0; r < size_t(n); ++r) {
    // w = lc^{-1} z_r by forward substitution: the row's whitened coordinates.
    std::vector<double> w(d);
    for (size_t i = 0; i < d; ++i) {
      double v = z[r][i];
      for (size_t p = 0; p < i; ++p) v -= lc[i][p] * w[p];
      w[i] = v / lc[i][i];
    }
    for (size_t i = 0; i < d; ++i) {
      double v = mean[i];
      for (size_t p = 0; p <= i; ++p) v += chol[i][p] * w[p];
      out[r][i] = v;
    }
  }
  return from_matrix(out);
}

static double trace(const Matrix& m) {
  double t = 0;
  for (size_t i = 0; i < m.size(); ++i) t += m[i][i];
  return t;
}

// ---- symmetric_eigen --------------------------------------------------------------

TEST(SymmetricEigen, ReconstructsARandomSpdMatrixWithOrthonormalVectors) {
  const size_t d = 7;
  const Matrix b = to_matrix(test::uniform({int64_t(d), int64_t(d)}, 11));
  Matrix a(d, std::vector<double>(d, 0.0));  // b b^T + I/2: symmetric positive definite
  for (size_t i = 0; i < d; ++i)
    for (size_t j = 0; j < d; ++j) {
      for (size_t p = 0; p < d; ++p) a[i][j] += b[i][p] * b[j][p];
      if (i == j) a[i][j] += 0.5;
    }
  const eval::SymmetricEigen e = eval::symmetric_eigen(from_matrix(a));
  ASSERT_EQ(e.values.shape(), Shape({int64_t(d)}));
  ASSERT_EQ(e.vectors.shape(), Shape({int64_t(d), int64_t(d)}));
  const std::vector<double> l = e.values.to_vector<double>();
  const Matrix v = to_matrix(e.vectors);
  for (size_t j = 1; j < d; ++j) EXPECT_LE(l[j - 1], l[j]) << "eigenvalues must ascend";
  for (size_t i = 0; i < d; ++i)
    for (size_t j = 0; j < d; ++j) {
      double vdv = 0, vtv = 0;  // (V diag(l) V^T)_ij and (V^T V)_ij
      for (size_t p = 0; p < d; ++p) {
        vdv += v[i][p] * l[p] * v[j][p];
        vtv += v[p][i] * v[p][j];
      }
      EXPECT_NEAR(vdv, a[i][j], 1e-12) << "reconstruction at (" << i << "," << j << ")";
      EXPECT_NEAR(vtv, i == j ? 1.0 : 0.0, 1e-12) << "V^T V at (" << i << "," << j << ")";
    }
  // Column j is the eigenvector of value j (not row j: LAPACK is column-major).
  for (size_t j = 0; j < d; ++j)
    for (size_t i = 0; i < d; ++i) {
      double av = 0;
      for (size_t p = 0; p < d; ++p) av += a[i][p] * v[p][j];
      EXPECT_NEAR(av, l[j] * v[i][j], 1e-12) << "A v_" << j << " row " << i;
    }
}

TEST(SymmetricEigen, KnownMatrices) {
  // [[2,1],[1,2]]: eigenvalues 1 and 3, eigenvectors (1,-1)/sqrt2 and (1,1)/sqrt2 (up to sign).
  const eval::SymmetricEigen e = eval::symmetric_eigen(from_vector(std::vector<double>{2, 1, 1, 2}, {2, 2}));
  const std::vector<double> l = e.values.to_vector<double>();
  EXPECT_NEAR(l[0], 1.0, 1e-14);
  EXPECT_NEAR(l[1], 3.0, 1e-14);
  const Matrix v = to_matrix(e.vectors);
  const double r = 1 / std::sqrt(2.0);
  EXPECT_NEAR(std::fabs(v[0][0]), r, 1e-14);
  EXPECT_NEAR(v[1][0], -v[0][0], 1e-14);
  EXPECT_NEAR(std::fabs(v[0][1]), r, 1e-14);
  EXPECT_NEAR(v[1][1], v[0][1], 1e-14);
  // A diagonal matrix (float32 accepted): its diagonal, sorted.
  const eval::SymmetricEigen diag =
      eval::symmetric_eigen(from_vector(std::vector<float>{5, 0, 0, 0, -2, 0, 0, 0, 1}, {3, 3}));
  const std::vector<double> dl = diag.values.to_vector<double>();
  EXPECT_NEAR(dl[0], -2, 1e-14);
  EXPECT_NEAR(dl[1], 1, 1e-14);
  EXPECT_NEAR(dl[2], 5, 1e-14);
}

TEST(SymmetricEigen, RejectsNonSquareAndAsymmetricMatrices) {
  test::expect_error([] { eval::symmetric_eigen(zeros({2, 3}, kF64)); }, {"symmetric_eigen", "[2,3]", "square"});
  test::expect_error([] { eval::symmetric_eigen(from_vector(std::vector<double>{1, 2, 3, 4}, {2, 2})); },
                     {"symmetric_eigen", "not symmetric", "(1,0) = 3"});
}

// ---- the feature Gaussian ------------------------------------------------------------

TEST(FeatureGaussian, MeanAndUnbiasedCovarianceByHand) {
  // Rows (1,2), (3,6), (5,4): mean (3,4); deviations (-2,-2), (0,2), (2,0);
  // covariance sums [[8,4],[4,8]] divided by N - 1 = 2.
  const eval::FeatureGaussian g = eval::feature_gaussian(from_vector(std::vector<float>{1, 2, 3, 6, 5, 4}, {3, 2}));
  EXPECT_EQ(g.mean.dtype(), DType::f64);
  test::expect_close(g.mean, from_vector(std::vector<double>{3, 4}, {2}), 1e-14);
  test::expect_close(g.covariance, from_vector(std::vector<double>{4, 2, 2, 4}, {2, 2}), 1e-14);
}

TEST(FeatureGaussian, MomentsOfTheConstructedSetsAreExact) {
  const Matrix chol{{2, 0, 0}, {0.5, 1.5, 0}, {-0.3, 0.2, 1}};
  const std::vector<double> mean{1, -2, 0.5};
  const eval::FeatureGaussian g = eval::feature_gaussian(with_exact_moments(40, mean, chol, 3));
  Matrix s(3, std::vector<double>(3, 0.0));
  for (size_t i = 0; i < 3; ++i)
    for (size_t j = 0; j < 3; ++j)
      for (size_t p = 0; p < 3; ++p) s[i][j] += chol[i][p] * chol[j][p];
  test::expect_close(g.mean, from_vector(mean, {3}), 1e-12);
  test::expect_close(g.covariance, from_matrix(s), 1e-12);
}

// ---- the Frechet distance ----------------------------------------------------------

TEST(Fid, ASetAgainstItselfIsZero) {
  const Tensor x = add(mul(test::uniform({300, 16}, 5), 3.0), 2.0);
  const double scale = trace(to_matrix(eval::feature_gaussian(x).covariance));
  EXPECT_LT(std::fabs(eval::fid(x, x)), 1e-8 * scale);
  // Rows in another order give the same Gaussian.
  Matrix reversed = to_matrix(x);
  std::reverse(reversed.begin(), reversed.end());
  EXPECT_LT(std::fabs(eval::fid(x, from_matrix(reversed))), 1e-8 * scale);
}

TEST(Fid, CommutingCovariancesMatchTheHandComputedValue) {
  // S1 = diag(4, 1, 9), S2 = diag(1, 4, 16): sum (sqrt s1 - sqrt s2)^2 = 1 + 1 + 1;
  // mu1 = (1, 0, 0), mu2 = (0, 2, 0): ||mu1 - mu2||^2 = 5. FID = 8.
  const Tensor a = with_exact_moments(50, {1, 0, 0}, {{2, 0, 0}, {0, 1, 0}, {0, 0, 3}}, 21);
  const Tensor b = with_exact_moments(70, {0, 2, 0}, {{1, 0, 0}, {0, 2, 0}, {0, 0, 4}}, 22);
  EXPECT_NEAR(eval::fid(a, b), 8.0, 1e-10);
}

TEST(Fid, NonCommutingTwoByTwo) {
  // S1 = [[2,1],[1,2]], S2 = diag(1,3) do not commute. S1 S2 has trace 8 and
  // determinant 9, so its eigenvalues satisfy l1 + l2 = 8, l1 l2 = 9 and
  // tr sqrt(S1 S2) = sqrt(l1) + sqrt(l2) = sqrt(8 + 2 sqrt 9) = sqrt 14.
  // With mu1 = 0, mu2 = (1, 1): FID = 2 + 4 + 4 - 2 sqrt 14 = 2.51668522645211722...
  // (mpmath.sqrtm(S1 * S2) at 50 digits, Denman-Beavers, agrees to every digit).
  const double r = 1 / std::sqrt(2.0);  // S1 = L L^T with L = [[sqrt2, 0], [1/sqrt2, sqrt(3/2)]]
  const Tensor a = with_exact_moments(30, {0, 0}, {{std::sqrt(2.0), 0}, {r, std::sqrt(1.5)}}, 31);
  const Tensor b = with_exact_moments(45, {1, 1}, {{1, 0}, {0, std::sqrt(3.0)}}, 32);
  EXPECT_NEAR(eval::fid(a, b), 2.5166852264521172, 1e-11);
  EXPECT_NEAR(10 - 2 * std::sqrt(14.0), 2.5166852264521172, 1e-15);
}

TEST(Fid, FourDimensionalCaseAgainstMpmath) {
  // S_i = L_i L_i^T. Reference: ||mu1-mu2||^2 + tr S1 + tr S2 - 2 tr(mpmath.sqrtm(S1*S2))
  // at 50 digits (the square root of the non-symmetric product, by another
  // algorithm than ours) = 21.501609933465478904.
  const Matrix l1{{2, 0, 0, 0}, {0.5, 1.5, 0, 0}, {-0.3, 0.2, 1, 0}, {0.1, -0.4, 0.6, 0.8}};
  const Matrix l2{{1, 0, 0, 0}, {-0.7, 1.2, 0, 0}, {0.4, 0.9, 2, 0}, {0.3, 0.3, -0.5, 1.1}};
  const Tensor a = with_exact_moments(64, {0.5, -1, 2, 0}, l1, 41);
  const Tensor b = with_exact_moments(100, {1, 0.25, -0.5, 3}, l2, 42);
  EXPECT_NEAR(eval::fid(a, b), 21.501609933465478904, 1e-10);
  // Symmetric in its arguments (the formula is not visibly so).
  EXPECT_NEAR(eval::fid(b, a), eval::fid(a, b), 1e-12);
}

TEST(Fid, SingularCovariancesStayReal) {
  // Features confined to a 2-D subspace of R^5 (fewer rows than dims too):
  // rank-deficient covariances whose rounding gives tiny negative eigenvalues.
  const Tensor basis = test::uniform({2, 5}, 51);
  const Tensor a = matmul(test::uniform({4, 2}, 52), basis);
  const Tensor b = matmul(test::uniform({4, 2}, 53), basis);
  const double f = eval::fid(a, b);
  EXPECT_TRUE(std::isfinite(f));
  EXPECT_GT(f, -1e-12);
  EXPECT_LT(std::fabs(eval::fid(a, a)), 1e-12) << "rounding noise under the square root";
}

TEST(Fid, SingularCovariancesMatchTheirSubspaceValue) {
  // The 2x2 case above embedded in R^3 by B = [[1,0],[0,0.6],[0,0.8]] (orthonormal
  // columns, so distances, hence FID, are unchanged): rank-2 3x3 covariances.
  const double r = 1 / std::sqrt(2.0);
  const Tensor a2 = with_exact_moments(30, {0, 0}, {{std::sqrt(2.0), 0}, {r, std::sqrt(1.5)}}, 31);
  const Tensor b2 = with_exact_moments(45, {1, 1}, {{1, 0}, {0, std::sqrt(3.0)}}, 32);
  const Tensor embed = from_vector(std::vector<double>{1, 0, 0, 0, 0.6, 0.8}, {2, 3});  // B^T
  EXPECT_NEAR(eval::fid(matmul(a2, embed), matmul(b2, embed)), 10 - 2 * std::sqrt(14.0), 1e-11);
}

TEST(Fid, Float32FeaturesGiveTheFloat64Value) {
  const Tensor a = test::uniform({200, 6}, 61, -1, 1, DType::f32);
  const Tensor b = add(test::uniform({150, 6}, 62, -1, 1, DType::f32), 0.3);
  EXPECT_NEAR(eval::fid(a, b), eval::fid(a.to(DType::f64), b.to(DType::f64)), 1e-13);
}

TEST(Fid, ErrorsNameTheShapes) {
  test::expect_error([] { eval::fid(zeros({10, 4}, kF64), zeros({10, 5}, kF64)); },
                     {"fid", "[10,4]", "[10,5]", "feature widths"});
  test::expect_error([] { eval::fid(zeros({10}, kF64), zeros({10, 5}, kF64)); }, {"fid", "features_a", "[10]", "[N, D]"});
  test::expect_error([] { eval::fid(zeros({1, 4}, kF64), zeros({10, 4}, kF64)); },
                     {"fid", "features_a", "[1,4]", "at least 2"});
  Tensor bad = zeros({3, 2}, kF64);
  bad.data<double>()[3] = std::nan("");
  test::expect_error([&] { eval::fid(bad, zeros({3, 2}, kF64)); }, {"fid", "non-finite", "row 1"});
  eval::FeatureGaussian g{zeros({3}, kF64), zeros({3, 3}, kF64)}, h{zeros({2}, kF64), zeros({2, 2}, kF64)};
  test::expect_error([&] { eval::frechet_distance(g, h); }, {"frechet_distance", "[2]", "expected [3]"});
}
