// The one rule max_pool2d's CPU and CUDA kernels share: which element of a
// window is its maximum, PyTorch's rule. Scanning the window row by row from
// a best value of -infinity, an element takes over when it is larger than
// the best so far or is NaN: ties keep the first, a NaN is the maximum (the
// last NaN, if several), and a window of -inf answers its first element
// inside the image. The forward pass, its gradient and that gradient's
// gradient all call this, so they agree on every tie.
#pragma once

#include <cstdint>
#include <limits>

#include "kernels/hd.h"

namespace ng::kernels {

struct WindowMax {
  int64_t r, c;  // row and column in the image
};

// plane(r, c) reads element (r, c) of an h x w image. The window of output
// (oh, ow) starts at (oh * stride - padding, ow * stride - padding); padding
// is -infinity, so only elements inside the image compete.
template <class T, class Plane>
NG_HD WindowMax window_argmax(const Plane& plane, int64_t h, int64_t w, int64_t oh, int64_t ow, int64_t kernel,
                              int64_t stride, int64_t padding) {
  const int64_t r0 = oh * stride - padding, c0 = ow * stride - padding;
  const int64_t r_lo = r0 > 0 ? r0 : 0, r_hi = r0 + kernel < h ? r0 + kernel : h;
  const int64_t c_lo = c0 > 0 ? c0 : 0, c_hi = c0 + kernel < w ? c0 + kernel : w;
  WindowMax best{r_lo, c_lo};
  T best_value = -std::numeric_limits<T>::infinity();
  for (int64_t r = r_lo; r < r_hi; ++r)
    for (int64_t c = c_lo; c < c_hi; ++c) {
      const T v = plane(r, c);
      if (v > best_value || v != v) {
        best = {r, c};
        best_value = v;
      }
    }
  return best;
}

}  // namespace ng::kernels
