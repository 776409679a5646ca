// gather, its adjoint and argmax: one thread per output element in a
// grid-stride loop. They are memory-bound and small next to a model's
// convolutions; the point is the one-writer structure, which keeps them
// deterministic (no atomics) and equal to the CPU twins.
#include <cstdint>

#include "kernels/cuda_check.h"
#include "kernels/grid_1d.cuh"
#include "kernels/index.h"

namespace ng::kernels {

namespace {

template <class T>
__global__ void __launch_bounds__(kBlock1d)
    gather_kernel(T* __restrict__ out, const T* __restrict__ x, const T* __restrict__ index, int64_t index_numel,
                  AroundDim xs) {
  const int64_t m = index_numel / (xs.outer * xs.inner);
  for_each_element(index_numel, [&](int64_t e) {
    const int64_t o = e / (m * xs.inner), i = e % xs.inner;
    out[e] = x[(o * xs.n + int64_t(index[e])) * xs.inner + i];
  });
}

template <class T>
__global__ void __launch_bounds__(kBlock1d)
    gather_backward_kernel(T* __restrict__ dx, const T* __restrict__ index, const T* __restrict__ g,
                           int64_t index_numel, AroundDim xs) {
  const int64_t m = index_numel / (xs.outer * xs.inner);
  for_each_element(xs.outer * xs.n * xs.inner, [&](int64_t e) {
    const int64_t o = e / (xs.n * xs.inner), j = e / xs.inner % xs.n, i = e % xs.inner;
    T acc = 0;
    for (int64_t k = 0; k < m; ++k) {
      const int64_t at = (o * m + k) * xs.inner + i;
      if (int64_t(index[at]) == j) acc += g[at];
    }
    dx[e] = acc;
  });
}

template <class T>
__global__ void __launch_bounds__(kBlock1d) argmax_kernel(T* __restrict__ out, const T* __restrict__ x, AroundDim xs) {
  for_each_element(xs.outer * xs.inner, [&](int64_t e) {
    const int64_t o = e / xs.inner, i = e % xs.inner;
    const T* row = x + o * xs.n * xs.inner + i;
    int64_t best = 0;
    for (int64_t k = 1; k < xs.n; ++k)
      if (beats(row[k * xs.inner], row[best * xs.inner])) best = k;
    out[e] = T(best);
  });
}

template <class T>
void gather_as(void* out, const void* x, const void* index, int64_t index_numel, const AroundDim& xs,
               cudaStream_t s) {
  gather_kernel<T><<<grid_1d(index_numel), kBlock1d, 0, s>>>(static_cast<T*>(out), static_cast<const T*>(x),
                                                            static_cast<const T*>(index), index_numel, xs);
}

template <class T>
void gather_backward_as(void* dx, const void* index, const void* g, int64_t index_numel, const AroundDim& xs,
                        cudaStream_t s) {
  gather_backward_kernel<T><<<grid_1d(xs.outer * xs.n * xs.inner), kBlock1d, 0, s>>>(
      static_cast<T*>(dx), static_cast<const T*>(index), static_cast<const T*>(g), index_numel, xs);
}

template <class T>
void argmax_as(void* out, const void* x, const AroundDim& xs, cudaStream_t s) {
  argmax_kernel<T><<<grid_1d(xs.outer * xs.inner), kBlock1d, 0, s>>>(static_cast<T*>(out), static_cast<const T*>(x),
                                                                    xs);
}

}  // namespace

void launch_gather(ScalarType t, void* out, const void* x, const void* index, int64_t index_numel,
                   const AroundDim& x_shape, cudaStream_t stream) {
  if (index_numel == 0) return;
  if (t == ScalarType::f32)
    gather_as<float>(out, x, index, index_numel, x_shape, stream);
  else
    gather_as<double>(out, x, index, index_numel, x_shape, stream);
  NG_CHECK_LAUNCH("gather");
}

void launch_gather_backward(ScalarType t, void* dx, const void* index, const void* g, int64_t index_numel,
                            const AroundDim& x_shape, cudaStream_t stream) {
  if (x_shape.outer * x_shape.n * x_shape.inner == 0) return;
  if (t == ScalarType::f32)
    gather_backward_as<float>(dx, index, g, index_numel, x_shape, stream);
  else
    gather_backward_as<double>(dx, index, g, index_numel, x_shape, stream);
  NG_CHECK_LAUNCH("gather_backward");
}

void launch_argmax(ScalarType t, void* out, const void* x, const AroundDim& x_shape, cudaStream_t stream) {
  if (x_shape.outer * x_shape.inner == 0) return;
  if (t == ScalarType::f32)
    argmax_as<float>(out, x, x_shape, stream);
  else
    argmax_as<double>(out, x, x_shape, stream);
  NG_CHECK_LAUNCH("argmax");
}

}  // namespace ng::kernels
