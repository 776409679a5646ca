// FID: the Frechet (2-Wasserstein) distance between two Gaussians, with the
// matrix square roots taken through symmetric eigen-decompositions.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "engine/nanogen.h"
#include "eval/feature_input.h"
#include "eval/metrics.h"

namespace ng::eval {

namespace {

// Eigenvalues within rounding of zero, as numpy.linalg.matrix_rank judges
// them: |l| <= D * eps * max |l|. A singular covariance (N <= D, or features
// confined to a subspace) has such eigenvalues of either sign; taking their
// square roots would turn noise of size eps into errors of size sqrt(eps).
std::vector<double> clean_eigenvalues(std::vector<double> l) {
  double largest = 0;
  for (double v : l) largest = std::max(largest, std::fabs(v));
  const double tolerance = double(l.size()) * std::numeric_limits<double>::epsilon() * largest;
  for (double& v : l)
    if (v <= tolerance) v = 0;  // also every negative value: a PSD matrix has none
  return l;
}

// V diag(sqrt(l)) V^T: the square root of a symmetric positive semi-definite matrix.
Tensor psd_sqrt(const Tensor& s) {
  const SymmetricEigen e = symmetric_eigen(s);
  std::vector<double> roots = clean_eigenvalues(e.values.to_vector<double>());
  for (double& l : roots) l = std::sqrt(l);
  const Tensor scaled = mul(e.vectors, from_vector(roots, {int64_t(roots.size())}));  // column j times root j
  return matmul(scaled, e.vectors.t());
}

double trace(const Tensor& m) {
  const std::vector<double> v = m.to_vector<double>();
  const int64_t d = m.size(0);
  double t = 0;
  for (int64_t i = 0; i < d; ++i) t += v[size_t(i * d + i)];
  return t;
}

// Throws unless g is a [d] mean and a [d, d] covariance on the CPU.
void check_gaussian(const FeatureGaussian& g, const char* which, int64_t d) {
  NG_CHECK(g.mean.defined() && g.covariance.defined(), "frechet_distance: Gaussian ", which,
           " has an undefined mean or covariance");
  NG_CHECK(g.mean.dim() == 1 && g.mean.size(0) == d && g.covariance.dim() == 2 && g.covariance.size(0) == d &&
               g.covariance.size(1) == d,
           "frechet_distance: Gaussian ", which, " has mean ", shape_str(g.mean.shape()), " and covariance ",
           shape_str(g.covariance.shape()), "; expected [", d, "] and [", d, ", ", d, "]");
  NG_CHECK(g.mean.device().is_cpu() && g.covariance.device().is_cpu(), "frechet_distance: Gaussian ", which,
           " is not on the CPU");
}

}  // namespace

double frechet_distance(const FeatureGaussian& a, const FeatureGaussian& b) {
  NG_CHECK(a.mean.defined(), "frechet_distance: Gaussian a has an undefined mean");
  const int64_t d = a.mean.dim() == 1 ? a.mean.size(0) : -1;
  NG_CHECK(d >= 1, "frechet_distance: the mean of Gaussian a is ", shape_str(a.mean.shape()), "; expected [D]");
  check_gaussian(a, "a", d);
  check_gaussian(b, "b", d);
  const Tensor mu_a = a.mean.detach().to(DType::f64), mu_b = b.mean.detach().to(DType::f64);
  const Tensor s_a = a.covariance.detach().to(DType::f64), s_b = b.covariance.detach().to(DType::f64);

  const double mean_term = sum(square(sub(mu_a, mu_b))).item();
  // tr((S_a S_b)^1/2) = tr((S_a^1/2 S_b S_a^1/2)^1/2): both matrices have the
  // same eigenvalues (similar via S_a^1/2), and the second is symmetric PSD,
  // so its eigenvalues are real and never need a complex square root.
  const Tensor root_a = psd_sqrt(s_a);
  const Tensor m = matmul(matmul(root_a, s_b), root_a);
  const Tensor m_sym = mul(add(m, m.t()), 0.5).contiguous();  // remove rounding asymmetry
  double trace_sqrt = 0;
  for (double l : clean_eigenvalues(symmetric_eigen(m_sym).values.to_vector<double>())) trace_sqrt += std::sqrt(l);
  return mean_term + trace(s_a) + trace(s_b) - 2.0 * trace_sqrt;
}

double fid(const Tensor& features_a, const Tensor& features_b) {
  const Tensor a = as_feature_matrix(features_a, "fid", "features_a", 2);
  const Tensor b = as_feature_matrix(features_b, "fid", "features_b", 2);
  check_same_width(a, b, "fid", "features_a", "features_b");
  return frechet_distance(feature_gaussian(a), feature_gaussian(b));
}

}  // namespace ng::eval
