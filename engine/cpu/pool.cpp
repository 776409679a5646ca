#include "engine/cpu/pool.h"

#include <algorithm>

#include "engine/cpu/loops.h"
#include "kernels/max_pool_math.h"

namespace ng::cpu {

namespace {

// Runs plane(in, out) over every (n, c) image plane, threaded when the work
// is big enough. `in` and `out` are contiguous [N,C,*,*] tensors.
template <class T, class Plane>
void for_each_plane(const Tensor& in, const Tensor& out, Plane&& plane) {
  const int64_t planes = in.size(0) * in.size(1);
  const int64_t in_size = in.size(2) * in.size(3), out_size = out.size(2) * out.size(3);
  const T* src = in.data<T>();
  T* dst = out.data<T>();
  const bool threads = planes > 1 && planes * std::max(in_size, out_size) >= (int64_t(1) << 15);
#pragma omp parallel for schedule(static) if (threads)
  for (int64_t i = 0; i < planes; ++i) plane(src + i * in_size, dst + i * out_size);
}

// The input rows (or columns) [lo, hi) under the window of output o.
struct Window {
  int64_t lo, hi;
};
Window window(int64_t o, int64_t kernel, int64_t stride, int64_t padding, int64_t n) {
  const int64_t start = o * stride - padding;
  return {std::max<int64_t>(start, 0), std::min(start + kernel, n)};
}

}  // namespace

void avg_pool2d_forward(const Tensor& out, const Tensor& x, int64_t kernel, int64_t stride, int64_t padding) {
  const Tensor xc = x.contiguous();
  const int64_t h = x.size(2), w = x.size(3), ho = out.size(2), wo = out.size(3);
  dispatch_float(out.dtype(), [&]<class T>() {
    const T scale = T(1) / T(kernel * kernel);  // padding counts: always kernel^2
    for_each_plane<T>(xc, out, [&](const T* src, T* dst) {
      for (int64_t oh = 0; oh < ho; ++oh) {
        const Window rows = window(oh, kernel, stride, padding, h);
        for (int64_t ow = 0; ow < wo; ++ow) {
          const Window cols = window(ow, kernel, stride, padding, w);
          T acc = 0;
          for (int64_t i = rows.lo; i < rows.hi; ++i)
            for (int64_t j = cols.lo; j < cols.hi; ++j) acc += src[i * w + j];
          dst[oh * wo + ow] = acc * scale;
        }
      }
    });
  });
}

void avg_pool2d_backward(const Tensor& dx, const Tensor& g, int64_t kernel, int64_t stride, int64_t padding) {
  const Tensor gc = g.contiguous();
  const int64_t h = dx.size(2), w = dx.size(3), ho = g.size(2), wo = g.size(3);
  dispatch_float(dx.dtype(), [&]<class T>() {
    const T scale = T(1) / T(kernel * kernel);
    for_each_plane<T>(gc, dx, [&](const T* src, T* dst) {
      std::fill(dst, dst + h * w, T(0));
      for (int64_t oh = 0; oh < ho; ++oh) {
        const Window rows = window(oh, kernel, stride, padding, h);
        for (int64_t ow = 0; ow < wo; ++ow) {
          const Window cols = window(ow, kernel, stride, padding, w);
          const T v = src[oh * wo + ow] * scale;
          for (int64_t i = rows.lo; i < rows.hi; ++i)
            for (int64_t j = cols.lo; j < cols.hi; ++j) dst[i * w + j] += v;
        }
      }
    });
  });
}

namespace {

// Calls f(x plane, other plane, out plane) for every (n, c) plane of the
// contiguous x, other and out, threaded when the work is big enough.
template <class T, class F>
void for_each_plane3(const Tensor& x, const Tensor& other, const Tensor& out, F&& f) {
  const int64_t planes = x.size(0) * x.size(1), x_size = x.size(2) * x.size(3);
  const int64_t other_size = other.size(2) * other.size(3), out_size = out.size(2) * out.size(3);
  const T* xs = x.data<T>();
  const T* os = other.data<T>();
  T* dst = out.data<T>();
  const bool threads = planes > 1 && planes * std::max(x_size, out_size) >= (int64_t(1) << 15);
#pragma omp parallel for schedule(static) if (threads)
  for (int64_t i = 0; i < planes; ++i) f(xs + i * x_size, os + i * other_size, dst + i * out_size);
}

}  // namespace

void max_pool2d_select(const Tensor& out, const Tensor& x, const Tensor& v, int64_t kernel, int64_t stride,
                       int64_t padding) {
  const Tensor xc = x.contiguous(), vc = v.contiguous();
  const int64_t h = x.size(2), w = x.size(3), ho = out.size(2), wo = out.size(3);
  dispatch_float(out.dtype(), [&]<class T>() {
    for_each_plane3<T>(xc, vc, out, [&](const T* xp, const T* vp, T* dst) {
      const auto plane = [&](int64_t r, int64_t c) { return xp[r * w + c]; };
      for (int64_t oh = 0; oh < ho; ++oh)
        for (int64_t ow = 0; ow < wo; ++ow) {
          const kernels::WindowMax m = kernels::window_argmax<T>(plane, h, w, oh, ow, kernel, stride, padding);
          dst[oh * wo + ow] = vp[m.r * w + m.c];
        }
    });
  });
}

void max_pool2d_scatter(const Tensor& dx, const Tensor& x, const Tensor& g, int64_t kernel, int64_t stride,
                        int64_t padding) {
  const Tensor xc = x.contiguous(), gc = g.contiguous();
  const int64_t h = x.size(2), w = x.size(3), ho = g.size(2), wo = g.size(3);
  dispatch_float(dx.dtype(), [&]<class T>() {
    for_each_plane3<T>(xc, gc, dx, [&](const T* xp, const T* gp, T* dst) {
      const auto plane = [&](int64_t r, int64_t c) { return xp[r * w + c]; };
      std::fill(dst, dst + h * w, T(0));
      // Windows in row-major order: the order the CUDA kernel adds them in.
      for (int64_t oh = 0; oh < ho; ++oh)
        for (int64_t ow = 0; ow < wo; ++ow) {
          const kernels::WindowMax m = kernels::window_argmax<T>(plane, h, w, oh, ow, kernel, stride, padding);
          dst[m.r * w + m.c] += gp[oh * wo + ow];
        }
    });
  });
}

void upsample_nearest2d_forward(const Tensor& out, const Tensor& x, int64_t scale) {
  const Tensor xc = x.contiguous();
  const int64_t h = x.size(2), w = x.size(3), wo = w * scale;
  dispatch_float(out.dtype(), [&]<class T>() {
    for_each_plane<T>(xc, out, [&](const T* src, T* dst) {
      for (int64_t i = 0; i < h; ++i) {
        T* row = dst + i * scale * wo;  // build the first copy of the row...
        for (int64_t j = 0; j < w; ++j) std::fill_n(row + j * scale, scale, src[i * w + j]);
        for (int64_t r = 1; r < scale; ++r) std::copy_n(row, wo, row + r * wo);  // ...then repeat it
      }
    });
  });
}

void upsample_nearest2d_backward(const Tensor& dx, const Tensor& g, int64_t scale) {
  const Tensor gc = g.contiguous();
  const int64_t h = dx.size(2), w = dx.size(3), wo = w * scale;
  dispatch_float(dx.dtype(), [&]<class T>() {
    for_each_plane<T>(gc, dx, [&](const T* src, T* dst) {
      for (int64_t i = 0; i < h; ++i) {
        T* out_row = dst + i * w;
        std::fill(out_row, out_row + w, T(0));
        for (int64_t r = 0; r < scale; ++r) {
          const T* row = src + (i * scale + r) * wo;
          for (int64_t j = 0; j < w; ++j)
            for (int64_t c = 0; c < scale; ++c) out_row[j] += row[j * scale + c];
        }
      }
    });
  });
}

}  // namespace ng::cpu
