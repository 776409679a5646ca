#include "engine/ops/embedding.h"

#include <string>

#include "engine/error.h"
#include "engine/ops/linalg.h"
#include "engine/precision.h"

namespace ng {

Tensor one_hot(const std::vector<int64_t>& indices, int64_t classes, TensorOptions opts) {
  NG_CHECK(classes > 0, "one_hot: classes must be positive, got ", classes);
  const int64_t n = int64_t(indices.size());
  std::vector<double> values(size_t(n * classes), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t k = indices[size_t(i)];
    NG_CHECK(k >= 0 && k < classes, "one_hot: index ", k, " at position ", i, " is outside [0, ", classes, ")");
    values[size_t(i * classes + k)] = 1.0;
  }
  // Built on the host in float64 (0 and 1 are exact in every dtype);
  // from_vector converts and uploads it in one copy.
  return from_vector(values, {n, classes}, opts);
}

Tensor embedding(const Tensor& weight, const std::vector<int64_t>& indices) {
  NG_CHECK(weight.dim() == 2, "embedding: weight ", shape_str(weight.shape()), " must be [num, dim]");
  NG_CHECK(!indices.empty(), "embedding: no indices to look up");
  const Tensor rows = one_hot(indices, weight.size(0), weight.options());
  MatmulPrecisionGuard exact(MatmulPrecision::fp32);
  return matmul(rows, weight);
}

}  // namespace ng
