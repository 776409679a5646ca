// The Gaussian that FID fits to a feature set: its sample mean and unbiased
// covariance, in float64.
#include "engine/nanogen.h"
#include "eval/feature_input.h"
#include "eval/metrics.h"

namespace ng::eval {

FeatureGaussian feature_gaussian(const Tensor& features) {
  // N - 1 in the denominator needs two rows.
  const Tensor x = as_feature_matrix(features, "feature_gaussian", "features", 2);
  const int64_t n = x.size(0);
  FeatureGaussian g;
  g.mean = mean(x, {0});  // [D]
  // Centring first, then one GEMM: the textbook E[xx^T] - mu mu^T cancels
  // catastrophically when the mean is large against the spread.
  const Tensor centred = sub(x, g.mean);
  const Tensor scatter = matmul(centred.t(), centred);  // [D, D]
  // A blocked GEMM need not return an exactly symmetric matrix; make it so,
  // since the eigen-decomposition reads one triangle.
  g.covariance = mul(add(scatter, scatter.t()), 0.5 / double(n - 1)).contiguous();
  return g;
}

}  // namespace ng::eval
