#include "engine/cpu/pointwise.h"

#include "engine/cpu/loops.h"

namespace ng::cpu {

using kernels::Binary;
using kernels::Unary;

Shape broadcast_strides(const Tensor& t, const Shape& shape) {
  Shape st(shape.size(), 0);
  const int64_t lead = int64_t(shape.size()) - t.dim();
  for (int64_t d = 0; d < t.dim(); ++d)
    if (t.shape()[d] != 1) st[d + lead] = t.strides()[d];
  return st;
}

void unary(Unary op, const Tensor& out, const Tensor& a, double p0, double p1) {
  dispatch_float(out.dtype(), [&]<class T>() {
    const T q0 = T(p0), q1 = T(p1);
    switch (op) {
#define NG_CASE(name)                                                                              \
  case Unary::name:                                                                                \
    map<T>(out, [q0, q1](T x) { return kernels::unary_fn<Unary::name, T>(x, q0, q1); }, a); \
    break;
      NG_UNARY_OPS(NG_CASE)
#undef NG_CASE
    }
  });
}

void binary(Binary op, const Tensor& out, const Tensor& a, const Tensor& b) {
  dispatch_float(out.dtype(), [&]<class T>() {
    switch (op) {
#define NG_CASE(name)                                                                       \
  case Binary::name:                                                                        \
    map<T>(out, [](T x, T y) { return kernels::binary_fn<Binary::name, T>(x, y); }, a, b); \
    break;
      NG_BINARY_OPS(NG_CASE)
#undef NG_CASE
    }
  });
}

void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  dispatch_float(out.dtype(), [&]<class T>() {
    map<T>(out, [](T c, T x, T y) { return kernels::where_fn(c, x, y); }, cond, a, b);
  });
}

}  // namespace ng::cpu
