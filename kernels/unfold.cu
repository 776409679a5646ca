#include <cstdint>

#include "kernels/cuda_check.h"
#include "kernels/grid_1d.cuh"
#include "kernels/unfold.h"

namespace ng::kernels {

namespace {

// cols[plane, tap, position], one thread per entry: consecutive threads take
// consecutive window positions, so the writes coalesce.
template <class T>
__global__ void __launch_bounds__(kBlock1d)
    unfold_kernel(T* __restrict__ cols, const T* __restrict__ x, UnfoldGeometry g) {
  const int64_t taps = g.kh * g.kw, positions = g.out_h * g.out_w;
  for_each_element(g.n * g.c * taps * positions, [&](int64_t e) {
    const int64_t position = e % positions, tap = e / positions % taps, plane = e / (positions * taps);
    cols[e] = unfold_entry(x + plane * g.h * g.w, tap, position, g);
  });
}

// x[plane, r, q], one thread per pixel.
template <class T>
__global__ void __launch_bounds__(kBlock1d)
    fold_kernel(T* __restrict__ x, const T* __restrict__ cols, UnfoldGeometry g) {
  const int64_t taps = g.kh * g.kw, positions = g.out_h * g.out_w;
  for_each_element(g.n * g.c * g.h * g.w, [&](int64_t e) {
    const int64_t q = e % g.w, r = e / g.w % g.h, plane = e / (g.w * g.h);
    x[e] = fold_pixel(cols + plane * taps * positions, r, q, g);
  });
}

}  // namespace

void launch_unfold(ScalarType t, void* cols, const void* x, const UnfoldGeometry& g, cudaStream_t stream) {
  const int64_t total = g.n * g.c * g.kh * g.kw * g.out_h * g.out_w;
  if (total == 0) return;
  if (t == ScalarType::f32)
    unfold_kernel<float><<<grid_1d(total), kBlock1d, 0, stream>>>(static_cast<float*>(cols),
                                                                 static_cast<const float*>(x), g);
  else
    unfold_kernel<double><<<grid_1d(total), kBlock1d, 0, stream>>>(static_cast<double*>(cols),
                                                                  static_cast<const double*>(x), g);
  NG_CHECK_LAUNCH("unfold");
}

void launch_fold(ScalarType t, void* x, const void* cols, const UnfoldGeometry& g, cudaStream_t stream) {
  const int64_t total = g.n * g.c * g.h * g.w;
  if (total == 0) return;
  if (t == ScalarType::f32)
    fold_kernel<float><<<grid_1d(total), kBlock1d, 0, stream>>>(static_cast<float*>(x),
                                                               static_cast<const float*>(cols), g);
  else
    fold_kernel<double><<<grid_1d(total), kBlock1d, 0, stream>>>(static_cast<double*>(x),
                                                                static_cast<const double*>(cols), g);
  NG_CHECK_LAUNCH("fold");
}

}  // namespace ng::kernels
