#include "engine/cpu/conv.h"

#include <omp.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "engine/cpu/blas.h"
#include "engine/cpu/loops.h"
#include "engine/cpu/winograd.h"

namespace ng::cpu {

namespace {

// The sizes of one convolution, read from its operands' shapes.
struct Geometry {
  int64_t batch, c_in, h, w;  // input images
  int64_t c_out, kh, kw;      // filters
  int64_t stride, padding;
  int64_t h_out, w_out;  // output images

  int64_t patch() const { return c_in * kh * kw; }   // rows of im2col
  int64_t pixels() const { return h_out * w_out; }  // columns of im2col, per image
};

Geometry geometry(const Shape& input, const Shape& weight, const Shape& output, int64_t stride, int64_t padding) {
  return {input[0], input[1], input[2], input[3], weight[0], weight[2], weight[3],
          stride,   padding,  output[2], output[3]};
}

// Images go through im2col + GEMM in chunks whose column matrix
// [patch, chunk * pixels] stays under this many elements (1 MiB of float32):
// wide enough for an efficient GEMM (a 7x7 output alone is a 49-column
// matrix), small enough to stay in L2 between im2col writing it and GEMM
// reading it, and to keep memory modest on big images. (Measured on the VAE
// layers: 2^18 beat 2^20 and 2^21 by 10-20%.)
constexpr int64_t kColumnBudget = int64_t(1) << 18;

int64_t chunk_size(const Geometry& g) {
  const int64_t per_image = std::max<int64_t>(g.patch() * g.pixels(), 1);
  return std::clamp<int64_t>(kColumnBudget / per_image, 1, std::max<int64_t>(g.batch, 1));
}

// Below this many elements of work a loop runs on one thread.
constexpr int64_t kParallelGrain = int64_t(1) << 14;

// ---- GEMM: C[m,n] = op(A)[m,k] * op(B)[k,n] + beta C, row-major ----------------

template <class T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b,
          int64_t ldb, T beta, T* c, int64_t ldc) {
  blas::gemm<T>({m, n, k, trans_a, trans_b, lda, ldb, ldc}, a, b, beta, c);
}

// ---- im2col / col2im -----------------------------------------------------------

// Output positions [lo, hi) along one axis whose tap at kernel offset k lands
// inside an input of size n, i.e. 0 <= o * stride - padding + k < n. Computed
// once per kernel tap so that the pixel loops need no bounds tests and no
// division.
struct Span {
  int64_t lo, hi;
};

Span valid_span(int64_t k, int64_t n, int64_t n_out, int64_t stride, int64_t padding) {
  const int64_t shift = k - padding;  // the input index that output 0 reads
  const int64_t lo = shift >= 0 ? 0 : (-shift + stride - 1) / stride;
  const int64_t hi = std::min(n_out, n - shift <= 0 ? 0 : (n - shift + stride - 1) / stride);
  return {std::min(lo, hi), hi};
}

// Strided access along a row, with the stride a compile-time constant for
// the common strides 1 and 2 (so the loops unroll and vectorise) and a
// run-time value otherwise (S = 0).
template <int64_t S>
struct Stride {
  int64_t value;
  int64_t operator()() const { return S ? S : value; }
};

// Writes the kh*kw rows of im2col that one input channel plane [H,W]
// produces. `col` points at the first of those rows, at this image's first
// column; rows are `ld` elements apart. A tap that reaches into the padding
// is zero-filled first and then gets its valid rectangle copied in.
template <class T, int64_t S>
void im2col_plane(const Geometry& g, Stride<S> stride, const T* plane, T* col, int64_t ld) {
  const int64_t s = stride(), wo = g.w_out;
  for (int64_t ki = 0; ki < g.kh; ++ki) {
    const Span rows = valid_span(ki, g.h, g.h_out, s, g.padding);
    for (int64_t kj = 0; kj < g.kw; ++kj) {
      const Span cols = valid_span(kj, g.w, wo, s, g.padding);
      T* dst = col + (ki * g.kw + kj) * ld;
      if (rows.lo > 0 || rows.hi < g.h_out || cols.lo > 0 || cols.hi < wo) std::fill(dst, dst + g.pixels(), T(0));
      for (int64_t oh = rows.lo; oh < rows.hi; ++oh) {
        // Output pixel (oh, ow) reads input pixel (oh * s - padding + ki, ow * s - padding + kj).
        const int64_t src = (oh * s - g.padding + ki) * g.w - g.padding + kj;  // + ow * s
        T* out = dst + oh * wo;
        for (int64_t ow = cols.lo; ow < cols.hi; ++ow) out[ow] = plane[src + ow * s];
      }
    }
  }
}

// The adjoint of im2col_plane: adds every column entry back into the input
// pixel it was read from (entries from the padding are dropped).
template <class T, int64_t S>
void col2im_plane(const Geometry& g, Stride<S> stride, const T* col, int64_t ld, T* plane) {
  const int64_t s = stride(), wo = g.w_out;
  for (int64_t ki = 0; ki < g.kh; ++ki) {
    const Span rows = valid_span(ki, g.h, g.h_out, s, g.padding);
    for (int64_t kj = 0; kj < g.kw; ++kj) {
      const Span cols = valid_span(kj, g.w, wo, s, g.padding);
      const T* src_row = col + (ki * g.kw + kj) * ld;
      for (int64_t oh = rows.lo; oh < rows.hi; ++oh) {
        const T* src = src_row + oh * wo;
        const int64_t dst = (oh * s - g.padding + ki) * g.w - g.padding + kj;  // + ow * s
        for (int64_t ow = cols.lo; ow < cols.hi; ++ow) plane[dst + ow * s] += src[ow];
      }
    }
  }
}

// Calls f(Stride<S>{stride}) with S = the stride when it is 1 or 2, else 0.
template <class F>
void dispatch_stride(int64_t stride, F&& f) {
  if (stride == 1) return f(Stride<1>{1});
  if (stride == 2) return f(Stride<2>{2});
  f(Stride<0>{stride});
}

// im2col of images [n0, n0 + nb) of x into col [patch, nb * pixels].
template <class T>
void im2col(const Geometry& g, const T* x, int64_t n0, int64_t nb, T* col) {
  const int64_t ld = nb * g.pixels(), plane = g.h * g.w, planes = nb * g.c_in;
  const bool threads = planes > 1 && g.patch() * ld >= kParallelGrain;
#pragma omp parallel for schedule(static) if (threads)
  for (int64_t t = 0; t < planes; ++t) {
    const int64_t b = t / g.c_in, c = t % g.c_in;  // once per plane, not per pixel
    dispatch_stride(g.stride, [&](auto s) {
      im2col_plane(g, s, x + ((n0 + b) * g.c_in + c) * plane, col + c * g.kh * g.kw * ld + b * g.pixels(), ld);
    });
  }
}

// col2im of col [patch, nb * pixels] into images [n0, n0 + nb) of x, which it
// overwrites: each plane starts at its channel's bias (or zero).
template <class T>
void col2im(const Geometry& g, const T* col, int64_t n0, int64_t nb, const T* bias, T* x) {
  const int64_t ld = nb * g.pixels(), plane = g.h * g.w, planes = nb * g.c_in;
  const bool threads = planes > 1 && g.patch() * ld >= kParallelGrain;
#pragma omp parallel for schedule(static) if (threads)
  for (int64_t t = 0; t < planes; ++t) {
    const int64_t b = t / g.c_in, c = t % g.c_in;
    T* dst = x + ((n0 + b) * g.c_in + c) * plane;
    std::fill(dst, dst + plane, bias ? bias[c] : T(0));
    dispatch_stride(g.stride, [&](auto s) { col2im_plane(g, s, col + c * g.kh * g.kw * ld + b * g.pixels(), ld, dst); });
  }
}

// ---- NCHW batch <-> GEMM rows -------------------------------------------------------

// [nb, C, P] (consecutive images of an NCHW batch) -> [C, nb * P] (one GEMM
// row per channel, the images side by side).
template <class T>
void batch_to_rows(const T* src, int64_t nb, int64_t channels, int64_t pixels, T* dst) {
  const bool threads = channels > 1 && nb * channels * pixels >= kParallelGrain;
#pragma omp parallel for schedule(static) if (threads)
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t b = 0; b < nb; ++b)
      std::copy_n(src + (b * channels + c) * pixels, pixels, dst + (c * nb + b) * pixels);
}

// The inverse, adding bias[c] (when given) on the way.
template <class T>
void rows_to_batch(const T* src, int64_t nb, int64_t channels, int64_t pixels, const T* bias, T* dst) {
  const bool threads = channels > 1 && nb * channels * pixels >= kParallelGrain;
#pragma omp parallel for schedule(static) if (threads)
  for (int64_t c = 0; c < channels; ++c) {
    const T add = bias ? bias[c] : T(0);
    for (int64_t b = 0; b < nb; ++b) {
      const T* s = src + (c * nb + b) * pixels;
      T* d = dst + (b * channels + c) * pixels;
      for (int64_t i = 0; i < pixels; ++i) d[i] = s[i] + add;
    }
  }
}

// Scratch memory kept between calls (per thread, two slots: the column
// matrix and the reordered rows). Fresh multi-megabyte buffers would cost a
// page fault per 4 KiB on every call.
template <class T>
T* scratch(int slot, int64_t n) {
  thread_local std::vector<std::unique_ptr<char[]>> buffers(2);
  thread_local std::vector<size_t> sizes(2, 0);
  const size_t bytes = size_t(std::max<int64_t>(n, 1)) * sizeof(T);
  if (sizes[slot] < bytes) {
    buffers[slot] = std::make_unique_for_overwrite<char[]>(bytes);
    sizes[slot] = bytes;
  }
  return reinterpret_cast<T*>(buffers[slot].get());
}

// Runs body(n0, nb) for every chunk [n0, n0 + nb) of the batch's images.
// With at least as many chunks as threads, each thread takes whole chunks
// (its im2col, product and copy stay in its own caches, and the call opens
// one parallel region instead of three a chunk); otherwise the chunks go one
// after another, each one's loops and product shared over the threads. A
// chunk computes the same bits either way: its product is cut into blocks by
// its shape alone (engine/cpu/blas.h), whichever threads run them.
template <class F>
void for_each_chunk(int64_t batch, int64_t chunk, int64_t work, F&& body) {
  const int64_t chunks = (batch + chunk - 1) / chunk;
  const bool by_chunk =
      chunks > 1 && chunks >= omp_get_max_threads() && work >= kParallelGrain && !omp_in_parallel();
  if (by_chunk) {
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t i = 0; i < chunks; ++i) body(i * chunk, std::min(chunk, batch - i * chunk));
  } else {
    for (int64_t i = 0; i < chunks; ++i) body(i * chunk, std::min(chunk, batch - i * chunk));
  }
}

// 3x3, stride 1, padding 1 (an output of the input's size): Winograd's
// F(2x2, 3x3) (engine/cpu/winograd.h) for all three kernels; im2col + GEMM
// for every other shape.
bool use_winograd(const Geometry& g) {
  return g.kh == 3 && g.kw == 3 && g.stride == 1 && g.padding == 1 && g.h_out == g.h && g.w_out == g.w;
}

template <class T>
const T* data_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

// ---- the three kernels ------------------------------------------------------------

template <class T>
void forward(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor& b, int64_t stride, int64_t padding) {
  const Geometry g = geometry(x.shape(), w.shape(), y.shape(), stride, padding);
  if (y.numel() == 0) return;
  const Tensor xc = x.contiguous(), wc = w.contiguous(), bc = b.defined() ? b.contiguous() : Tensor();
  const T *xp = xc.data<T>(), *wp = wc.data<T>(), *bp = data_or_null<T>(bc);
  T* yp = y.data<T>();
  if (use_winograd(g)) {
    winograd_conv3x3(xp, wp, bp, yp, g.batch, g.c_in, g.c_out, g.h, g.w);
    return;
  }
  const int64_t K = g.patch(), P = g.pixels(), chunk = chunk_size(g);
  for_each_chunk(g.batch, chunk, g.c_out * K * P * g.batch, [&](int64_t n0, int64_t nb) {
    T* col = scratch<T>(0, K * chunk * P);
    T* rows = scratch<T>(1, chunk > 1 ? g.c_out * chunk * P : 0);
    T* out = yp + n0 * g.c_out * P;
    im2col(g, xp, n0, nb, col);
    // One image is already in NCHW order; several need reordering.
    T* dst = nb == 1 ? out : rows;
    gemm(false, false, g.c_out, nb * P, K, wp, K, col, nb * P, T(0), dst, nb * P);
    if (nb > 1 || bp) rows_to_batch(dst, nb, g.c_out, P, bp, out);
  });
}

template <class T>
void input_grad(const Tensor& dx, const Tensor& dy, const Tensor& w, const Tensor& b, int64_t stride,
                int64_t padding) {
  const Geometry g = geometry(dx.shape(), w.shape(), dy.shape(), stride, padding);
  if (dx.numel() == 0) return;
  const Tensor dyc = dy.contiguous(), wc = w.contiguous(), bc = b.defined() ? b.contiguous() : Tensor();
  const T *dyp = dyc.data<T>(), *wp = wc.data<T>(), *bp = data_or_null<T>(bc);
  T* dxp = dx.data<T>();
  if (use_winograd(g)) {
    // With stride 1 and padding 1 the input gradient is itself such a
    // convolution of dy: by the filters turned 180 degrees, Cin and Cout swapped.
    std::vector<T> turned(size_t(g.c_in * g.c_out * 9));
    for (int64_t k = 0; k < g.c_out; ++k)
      for (int64_t c = 0; c < g.c_in; ++c)
        for (int i = 0; i < 9; ++i) turned[size_t((c * g.c_out + k) * 9 + i)] = wp[(k * g.c_in + c) * 9 + 8 - i];
    winograd_conv3x3(dyp, turned.data(), bp, dxp, g.batch, g.c_out, g.c_in, g.h, g.w);
    return;
  }
  const int64_t K = g.patch(), P = g.pixels(), chunk = chunk_size(g);
  for_each_chunk(g.batch, chunk, g.c_out * K * P * g.batch, [&](int64_t n0, int64_t nb) {
    T* col = scratch<T>(0, K * chunk * P);
    T* rows = scratch<T>(1, chunk > 1 ? g.c_out * chunk * P : 0);
    const T* src = dyp + n0 * g.c_out * P;
    if (nb > 1) {
      batch_to_rows(src, nb, g.c_out, P, rows);
      src = rows;
    }
    gemm(true, false, K, nb * P, g.c_out, wp, K, src, nb * P, T(0), col, nb * P);
    col2im(g, col, n0, nb, bp, dxp);
  });
}

template <class T>
void weight_grad(const Tensor& dw, const Tensor& x, const Tensor& dy, int64_t stride, int64_t padding) {
  const Geometry g = geometry(x.shape(), dw.shape(), dy.shape(), stride, padding);
  T* dwp = dw.data<T>();
  std::fill(dwp, dwp + dw.numel(), T(0));  // an empty batch gives a zero gradient
  if (dy.numel() == 0 || dw.numel() == 0) return;
  const Tensor xc = x.contiguous(), dyc = dy.contiguous();
  const T *xp = xc.data<T>(), *dyp = dyc.data<T>();
  if (use_winograd(g)) {
    winograd_conv3x3_weight_grad(xp, dyp, dwp, g.batch, g.c_in, g.c_out, g.h, g.w);
    return;
  }
  const int64_t K = g.patch(), P = g.pixels(), chunk = chunk_size(g);
  T* col = scratch<T>(0, K * chunk * P);
  T* rows = scratch<T>(1, chunk > 1 ? g.c_out * chunk * P : 0);
  for (int64_t n0 = 0; n0 < g.batch; n0 += chunk) {
    const int64_t nb = std::min(chunk, g.batch - n0);
    const T* src = dyp + n0 * g.c_out * P;
    if (nb > 1) {
      batch_to_rows(src, nb, g.c_out, P, rows);
      src = rows;
    }
    im2col(g, xp, n0, nb, col);
    gemm(false, true, g.c_out, K, nb * P, src, nb * P, col, nb * P, T(1), dwp, K);
  }
}

}  // namespace

void conv2d_forward(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor& b, int64_t stride,
                    int64_t padding) {
  dispatch_float(y.dtype(), [&]<class T>() { forward<T>(y, x, w, b, stride, padding); });
}

void conv2d_input_grad(const Tensor& dx, const Tensor& dy, const Tensor& w, const Tensor& b, int64_t stride,
                       int64_t padding) {
  dispatch_float(dx.dtype(), [&]<class T>() { input_grad<T>(dx, dy, w, b, stride, padding); });
}

void conv2d_weight_grad(const Tensor& dw, const Tensor& x, const Tensor& dy, int64_t stride, int64_t padding) {
  dispatch_float(dw.dtype(), [&]<class T>() { weight_grad<T>(dw, x, dy, stride, padding); });
}

}  // namespace ng::cpu
