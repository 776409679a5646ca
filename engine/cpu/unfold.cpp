#include "engine/cpu/unfold.h"

#include "engine/cpu/loops.h"

namespace ng::cpu {

void unfold(const Tensor& cols, const Tensor& x, const kernels::UnfoldGeometry& g) {
  const int64_t taps = g.kh * g.kw, positions = g.out_h * g.out_w;
  dispatch_float(x.dtype(), [&]<class T>() {
    const T* src = x.data<T>();
    T* dst = cols.data<T>();
#pragma omp parallel for schedule(static) if (cols.numel() >= (int64_t(1) << 16))
    for (int64_t plane = 0; plane < g.n * g.c; ++plane) {  // (n, c)
      const T* image = src + plane * g.h * g.w;
      for (int64_t tap = 0; tap < taps; ++tap)
        for (int64_t position = 0; position < positions; ++position)
          dst[(plane * taps + tap) * positions + position] = kernels::unfold_entry(image, tap, position, g);
    }
  });
}

void fold(const Tensor& x, const Tensor& cols, const kernels::UnfoldGeometry& g) {
  const int64_t taps = g.kh * g.kw, positions = g.out_h * g.out_w;
  dispatch_float(x.dtype(), [&]<class T>() {
    const T* src = cols.data<T>();
    T* dst = x.data<T>();
#pragma omp parallel for schedule(static) if (x.numel() * taps >= (int64_t(1) << 16))
    for (int64_t plane = 0; plane < g.n * g.c; ++plane) {
      const T* plane_cols = src + plane * taps * positions;
      for (int64_t r = 0; r < g.h; ++r)
        for (int64_t q = 0; q < g.w; ++q) dst[(plane * g.h + r) * g.w + q] = kernels::fold_pixel(plane_cols, r, q, g);
    }
  });
}

}  // namespace ng::cpu
