// The geometry of unfold (im2col) and fold (col2im), shared by the CPU twins
// (engine/cpu/unfold.cpp) and the CUDA kernels (kernels/unfold.cu).
//
// A kh x kw window with dilation d, stride s and zero padding p slides over
// a [C, H, W] image. Window position o (of out = (H + 2p - d(k-1) - 1)/s + 1)
// reads, at tap k, the input row o*s - p + k*d. unfold lays the taps out as
// rows: cols[(c*kh + i)*kw + j, oh*out_w + ow] = x[c, row(oh, i), col(ow, j)]
// (0 in the padding). fold is its adjoint and adds each column entry back
// onto the pixel it came from.
#pragma once

#include <cstdint>

#include "kernels/hd.h"

namespace ng::kernels {

struct UnfoldGeometry {
  int64_t n = 0, c = 0, h = 0, w = 0;  // the images
  int64_t kh = 1, kw = 1;              // the window
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dilation_h = 1, dilation_w = 1;
  int64_t out_h = 0, out_w = 0;  // window positions along each axis
};

// The input coordinate that tap k of window position o reads (may fall in the padding).
NG_HD int64_t tap_source(int64_t o, int64_t k, int64_t stride, int64_t pad, int64_t dilation) {
  return o * stride - pad + k * dilation;
}

// The window position whose tap k reads input coordinate r, or -1 if none:
// fold's inverse of tap_source.
NG_HD int64_t window_reading(int64_t r, int64_t k, int64_t stride, int64_t pad, int64_t dilation, int64_t out) {
  const int64_t t = r + pad - k * dilation;
  if (t < 0 || t % stride != 0) return -1;
  return t / stride < out ? t / stride : -1;
}

// Entry (tap, position) of one image plane's columns: the pixel that tap
// reads at that window position, or 0 in the padding.
template <class T>
NG_HD T unfold_entry(const T* image, int64_t tap, int64_t position, const UnfoldGeometry& g) {
  const int64_t r = tap_source(position / g.out_w, tap / g.kw, g.stride_h, g.pad_h, g.dilation_h);
  const int64_t q = tap_source(position % g.out_w, tap % g.kw, g.stride_w, g.pad_w, g.dilation_w);
  const bool inside = r >= 0 && r < g.h && q >= 0 && q < g.w;
  return inside ? image[r * g.w + q] : T(0);
}

// Pixel (r, q) of one plane folded back: the sum of the column entries read
// from it, the taps in row-major order (so both devices add alike).
template <class T>
NG_HD T fold_pixel(const T* plane_cols, int64_t r, int64_t q, const UnfoldGeometry& g) {
  const int64_t positions = g.out_h * g.out_w;
  T acc = 0;
  for (int64_t i = 0; i < g.kh; ++i) {
    const int64_t oh = window_reading(r, i, g.stride_h, g.pad_h, g.dilation_h, g.out_h);
    if (oh < 0) continue;
    for (int64_t j = 0; j < g.kw; ++j) {
      const int64_t ow = window_reading(q, j, g.stride_w, g.pad_w, g.dilation_w, g.out_w);
      if (ow >= 0) acc += plane_cols[(i * g.kw + j) * positions + oh * g.out_w + ow];
    }
  }
  return acc;
}

}  // namespace ng::kernels
