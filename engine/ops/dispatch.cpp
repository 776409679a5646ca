#include "engine/ops/dispatch.h"

namespace ng {

Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    NG_CHECK(da == db || da == 1 || db == 1, op, ": shapes ", shape_str(a), " and ", shape_str(b),
             " cannot be broadcast together (dim ", i, ": ", da, " vs ", db, ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

void check_same_dtype_device(const char* op, std::initializer_list<Tensor> tensors) {
  const Tensor* first = nullptr;
  for (const Tensor& t : tensors) {
    if (!t.defined()) continue;
    if (!first) {
      first = &t;
      continue;
    }
    NG_CHECK(t.dtype() == first->dtype(), op, ": dtype mismatch: ", shape_str(first->shape()), " is ",
             dtype_name(first->dtype()), " but ", shape_str(t.shape()), " is ", dtype_name(t.dtype()));
    NG_CHECK(t.device() == first->device(), op, ": device mismatch: ", shape_str(first->shape()), " is on ",
             first->device().str(), " but ", shape_str(t.shape()), " is on ", t.device().str());
  }
}

void check_dim(const char* op, const char* what, const Tensor& t, int64_t ndim) {
  NG_CHECK(t.dim() == ndim, op, ": ", what, " must have ", ndim, " dims, got shape ", shape_str(t.shape()));
}

}  // namespace ng
