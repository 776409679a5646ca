#include "engine/cpu/unfold.h"

#include "engine/cpu/loops.h"

namespace ng::cpu {

using kernels::tap_source;
using kernels::window_reading;

void unfold(const Tensor& cols, const Tensor& x, const kernels::UnfoldGeometry& g) {
  const int64_t taps = g.kh * g.kw, positions = g.out_h * g.out_w;
  dispatch_float(x.dtype(), [&]<class T>() {
    const T* src = x.data<T>();
    T* dst = cols.data<T>();
#pragma omp parallel for schedule(static) if (cols.numel() >= (int64_t(1) << 16))
    for (int64_t plane = 0; plane < g.n * g.c; ++plane) {  // (n, c)
      const T* image = src + plane * g.h * g.w;
      for (int64_t tap = 0; tap < taps; ++tap) {
        const int64_t i = tap / g.kw, j = tap % g.kw;
        T* row = dst + (plane * taps + tap) * positions;
        for (int64_t oh = 0; oh < g.out_h; ++oh) {
          const int64_t r = tap_source(oh, i, g.stride_h, g.pad_h, g.dilation_h);
          for (int64_t ow = 0; ow < g.out_w; ++ow) {
            const int64_t q = tap_source(ow, j, g.stride_w, g.pad_w, g.dilation_w);
            const bool inside = r >= 0 && r < g.h && q >= 0 && q < g.w;
            row[oh * g.out_w + ow] = inside ? image[r * g.w + q] : T(0);
          }
        }
      }
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
        for (int64_t q = 0; q < g.w; ++q) {
          T acc = 0;
          for (int64_t i = 0; i < g.kh; ++i) {
            const int64_t oh = window_reading(r, i, g.stride_h, g.pad_h, g.dilation_h, g.out_h);
            if (oh < 0) continue;
            for (int64_t j = 0; j < g.kw; ++j) {
              const int64_t ow = window_reading(q, j, g.stride_w, g.pad_w, g.dilation_w, g.out_w);
              if (ow >= 0) acc += plane_cols[(i * g.kw + j) * positions + oh * g.out_w + ow];
            }
          }
          dst[(plane * g.h + r) * g.w + q] = acc;
        }
    }
  });
}

}  // namespace ng::cpu
