#include "eval/feature_input.h"

#include <cmath>

#include "engine/error.h"

namespace ng::eval {

Tensor as_feature_matrix(const Tensor& t, const char* op, const char* what, int64_t min_rows) {
  NG_CHECK(t.defined(), op, ": ", what, " is undefined; expected a [N, D] matrix");
  NG_CHECK(t.dim() == 2, op, ": ", what, " is ", shape_str(t.shape()), " (", t.dim(),
           "-D); expected a [N, D] matrix, one row per sample");
  NG_CHECK(t.device().is_cpu(), op, ": ", what, " ", shape_str(t.shape()), " is on ", t.device().str(),
           "; the metrics run on the CPU (move it with .to(Device::cpu()))");
  NG_CHECK(t.size(1) >= 1, op, ": ", what, " ", shape_str(t.shape()), " has no feature columns");
  NG_CHECK(t.size(0) >= min_rows, op, ": ", what, " ", shape_str(t.shape()), " has ", t.size(0),
           " rows; at least ", min_rows, " are needed");
  // detach(): the metrics are not differentiable, and matmul must not record a graph.
  const Tensor x = t.detach().to(DType::f64).contiguous();
  // A NaN would otherwise surface far away (LAPACK failing, every ball test false).
  const double* p = x.data<double>();
  for (int64_t i = 0; i < x.numel(); ++i)
    NG_CHECK(std::isfinite(p[i]), op, ": ", what, " ", shape_str(t.shape()), " has a non-finite value (", p[i],
             ") in row ", i / x.size(1));
  return x;
}

void check_same_width(const Tensor& a, const Tensor& b, const char* op, const char* what_a, const char* what_b) {
  NG_CHECK(a.size(1) == b.size(1), op, ": ", what_a, " ", shape_str(a.shape()), " and ", what_b, " ",
           shape_str(b.shape()), " have different feature widths (", a.size(1), " vs ", b.size(1), ")");
}

}  // namespace ng::eval
