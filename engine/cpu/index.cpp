#include "engine/cpu/index.h"

#include "engine/cpu/loops.h"

namespace ng::cpu {

namespace {

// The index_n of the [outer, index_n, inner] index tensor (0 when it is empty).
int64_t index_length(const Tensor& index, const kernels::AroundDim& x_shape) {
  const int64_t rows = x_shape.outer * x_shape.inner;
  return rows == 0 ? 0 : index.numel() / rows;
}

}  // namespace

void gather(const Tensor& out, const Tensor& x, const Tensor& index, const kernels::AroundDim& x_shape) {
  const int64_t m = index_length(index, x_shape), n = x_shape.n, inner = x_shape.inner;
  dispatch_float(x.dtype(), [&]<class T>() {
    const T* src = x.data<T>();
    const T* idx = index.data<T>();
    T* dst = out.data<T>();
#pragma omp parallel for schedule(static) if (out.numel() >= (int64_t(1) << 16))
    for (int64_t o = 0; o < x_shape.outer; ++o)
      for (int64_t k = 0; k < m; ++k)
        for (int64_t i = 0; i < inner; ++i) {
          const int64_t at = (o * m + k) * inner + i;
          dst[at] = src[(o * n + int64_t(idx[at])) * inner + i];
        }
  });
}

void gather_backward(const Tensor& dx, const Tensor& index, const Tensor& g, const kernels::AroundDim& x_shape) {
  const int64_t m = index_length(index, x_shape), n = x_shape.n, inner = x_shape.inner;
  dispatch_float(dx.dtype(), [&]<class T>() {
    const T* idx = index.data<T>();
    const T* grad = g.data<T>();
    T* dst = dx.data<T>();
#pragma omp parallel for schedule(static) if (dx.numel() * m >= (int64_t(1) << 16))
    for (int64_t o = 0; o < x_shape.outer; ++o)
      for (int64_t j = 0; j < n; ++j)
        for (int64_t i = 0; i < inner; ++i) {
          T acc = 0;
          for (int64_t k = 0; k < m; ++k) {
            const int64_t at = (o * m + k) * inner + i;
            if (int64_t(idx[at]) == j) acc += grad[at];
          }
          dst[(o * n + j) * inner + i] = acc;
        }
  });
}

void argmax(const Tensor& out, const Tensor& x, const kernels::AroundDim& x_shape) {
  const int64_t n = x_shape.n, inner = x_shape.inner;
  dispatch_float(x.dtype(), [&]<class T>() {
    const T* src = x.data<T>();
    T* dst = out.data<T>();
#pragma omp parallel for schedule(static) if (x.numel() >= (int64_t(1) << 16))
    for (int64_t o = 0; o < x_shape.outer; ++o)
      for (int64_t i = 0; i < inner; ++i) {
        const T* row = src + o * n * inner + i;
        int64_t best = 0;
        for (int64_t k = 1; k < n; ++k)
          if (kernels::beats(row[k * inner], row[best * inner])) best = k;
        dst[o * inner + i] = T(best);
      }
  });
}

}  // namespace ng::cpu
