#include <cstdint>

#include "kernels/cuda_check.h"
#include "kernels/unfold.h"

namespace ng::kernels {

namespace {

constexpr int kBlock = 256;

dim3 grid_for(int64_t n) {
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  return dim3(unsigned(blocks < 65535 ? blocks : 65535));
}

// cols[plane, tap, position], one thread per entry: consecutive threads take
// consecutive window positions, so the writes coalesce.
template <class T>
__global__ void __launch_bounds__(kBlock)
    unfold_kernel(T* __restrict__ cols, const T* __restrict__ x, UnfoldGeometry g) {
  const int64_t taps = g.kh * g.kw, positions = g.out_h * g.out_w, total = g.n * g.c * taps * positions;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t position = e % positions, tap = e / positions % taps, plane = e / (positions * taps);
    const int64_t r = tap_source(position / g.out_w, tap / g.kw, g.stride_h, g.pad_h, g.dilation_h);
    const int64_t q = tap_source(position % g.out_w, tap % g.kw, g.stride_w, g.pad_w, g.dilation_w);
    const bool inside = r >= 0 && r < g.h && q >= 0 && q < g.w;
    cols[e] = inside ? x[(plane * g.h + r) * g.w + q] : T(0);
  }
}

// x[plane, r, q], one thread per pixel, adding the taps in row-major order.
template <class T>
__global__ void __launch_bounds__(kBlock) fold_kernel(T* __restrict__ x, const T* __restrict__ cols, UnfoldGeometry g) {
  const int64_t taps = g.kh * g.kw, positions = g.out_h * g.out_w, total = g.n * g.c * g.h * g.w;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t q = e % g.w, r = e / g.w % g.h, plane = e / (g.w * g.h);
    const T* plane_cols = cols + plane * taps * positions;
    T acc = 0;
    for (int64_t i = 0; i < g.kh; ++i) {
      const int64_t oh = window_reading(r, i, g.stride_h, g.pad_h, g.dilation_h, g.out_h);
      if (oh < 0) continue;
      for (int64_t j = 0; j < g.kw; ++j) {
        const int64_t ow = window_reading(q, j, g.stride_w, g.pad_w, g.dilation_w, g.out_w);
        if (ow >= 0) acc += plane_cols[(i * g.kw + j) * positions + oh * g.out_w + ow];
      }
    }
    x[e] = acc;
  }
}

}  // namespace

void launch_unfold(ScalarType t, void* cols, const void* x, const UnfoldGeometry& g, cudaStream_t stream) {
  const int64_t total = g.n * g.c * g.kh * g.kw * g.out_h * g.out_w;
  if (total == 0) return;
  if (t == ScalarType::f32)
    unfold_kernel<float><<<grid_for(total), kBlock, 0, stream>>>(static_cast<float*>(cols),
                                                                 static_cast<const float*>(x), g);
  else
    unfold_kernel<double><<<grid_for(total), kBlock, 0, stream>>>(static_cast<double*>(cols),
                                                                  static_cast<const double*>(x), g);
  NG_CHECK_LAUNCH("unfold");
}

void launch_fold(ScalarType t, void* x, const void* cols, const UnfoldGeometry& g, cudaStream_t stream) {
  const int64_t total = g.n * g.c * g.h * g.w;
  if (total == 0) return;
  if (t == ScalarType::f32)
    fold_kernel<float><<<grid_for(total), kBlock, 0, stream>>>(static_cast<float*>(x),
                                                               static_cast<const float*>(cols), g);
  else
    fold_kernel<double><<<grid_for(total), kBlock, 0, stream>>>(static_cast<double*>(x),
                                                                static_cast<const double*>(cols), g);
  NG_CHECK_LAUNCH("fold");
}

}  // namespace ng::kernels
