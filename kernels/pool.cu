// Pooling and nearest resampling: a thread per output pixel, each a gather
// (the backward passes too, so nothing is written twice and no atomics are
// needed). Memory-bound and simple: blockIdx.y walks the (n, c) planes,
// blockIdx.x and the threads the pixels of a plane, so neighbouring threads
// write neighbouring outputs.
//
// Each output sums the same values in the same order as the CPU twin, and
// products are rounded before they are added (no fused multiply-add), so
// results match the CPU bit for bit.
#include <cstdint>
#include <stdexcept>
#include <string>

#include "kernels/cuda_check.h"
#include "kernels/max_pool_math.h"
#include "kernels/pool.h"

namespace ng::kernels {

namespace {

constexpr int kBlock = 256;
constexpr int64_t kMaxPlaneBlocks = 65535;  // gridDim.y limit; planes beyond it are looped over

__device__ __forceinline__ float mul_rn(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ double mul_rn(double a, double b) { return __dmul_rn(a, b); }

// Calls f(plane, pixel) for every pixel < plane_size of every plane. Pixel
// indices within a plane are 32-bit (the launchers check the planes fit), so
// splitting them into rows and columns costs a 32-bit division, not a call to
// the 64-bit division routine.
template <class F>
__device__ __forceinline__ void for_each_pixel(int64_t planes, int plane_size, F&& f) {
  for (int64_t p = blockIdx.y; p < planes; p += gridDim.y)
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < plane_size; i += gridDim.x * blockDim.x) f(p, i);
}

__device__ __forceinline__ int64_t plane_offset(const Image4d& im, int64_t p) {
  const int64_t n = p / im.c;
  return n * im.sn + (p - n * im.c) * im.sc;
}

template <class T>
__global__ void __launch_bounds__(kBlock)
    avg_pool_forward(T* __restrict__ out, int64_t out_h, int64_t out_w, const T* __restrict__ x, Image4d xi,
                     int64_t kernel, int64_t stride, int64_t padding, T scale) {
  for_each_pixel(xi.n * xi.c, int(out_h * out_w), [&](int64_t p, int i) {
    const T* src = x + plane_offset(xi, p);
    const int64_t oh = i / int(out_w), ow = i - oh * out_w;
    const int64_t h0 = oh * stride - padding, w0 = ow * stride - padding;
    const int64_t h_lo = h0 > 0 ? h0 : 0, h_hi = h0 + kernel < xi.h ? h0 + kernel : xi.h;
    const int64_t w_lo = w0 > 0 ? w0 : 0, w_hi = w0 + kernel < xi.w ? w0 + kernel : xi.w;
    T acc = 0;
    for (int64_t r = h_lo; r < h_hi; ++r)
      for (int64_t c = w_lo; c < w_hi; ++c) acc += src[r * xi.sh + c * xi.sw];
    out[p * out_h * out_w + i] = acc * scale;
  });
}

// Input pixel r lies in the window of output o when
// o * stride - padding <= r < o * stride - padding + kernel: for o from
// ceil((r + padding - kernel + 1) / stride) (at least 0) to
// (r + padding) / stride (at most n_out - 1).
struct Covering {
  int64_t first, last;
};
__device__ __forceinline__ Covering covering_windows(int64_t r, int64_t kernel, int64_t stride, int64_t padding,
                                                     int64_t n_out) {
  const int64_t lo = r + padding - kernel + 1, hi = (r + padding) / stride;
  return {lo <= 0 ? int64_t(0) : (lo + stride - 1) / stride, hi < n_out - 1 ? hi : n_out - 1};
}

template <class T>
__global__ void __launch_bounds__(kBlock)
    avg_pool_backward(T* __restrict__ dx, int64_t h, int64_t w, const T* __restrict__ g, Image4d gi, int64_t kernel,
                      int64_t stride, int64_t padding, T scale) {
  for_each_pixel(gi.n * gi.c, int(h * w), [&](int64_t p, int i) {
    const T* src = g + plane_offset(gi, p);
    const int64_t r = i / int(w), c = i - r * w;
    const Covering rows = covering_windows(r, kernel, stride, padding, gi.h);
    const Covering cols = covering_windows(c, kernel, stride, padding, gi.w);
    T acc = 0;
    for (int64_t oh = rows.first; oh <= rows.last; ++oh)
      for (int64_t ow = cols.first; ow <= cols.last; ++ow) acc += mul_rn(src[oh * gi.sh + ow * gi.sw], scale);
    dx[p * h * w + i] = acc;
  });
}

// A plane of a strided image, read as plane(r, c) by window_argmax.
template <class T>
struct StridedPlane {
  const T* base;
  int64_t sh, sw;
  NG_HD T operator()(int64_t r, int64_t c) const { return base[r * sh + c * sw]; }
};

template <class T>
__global__ void __launch_bounds__(kBlock)
    max_pool_select(T* __restrict__ out, int64_t out_h, int64_t out_w, const T* __restrict__ x, Image4d xi,
                    const T* __restrict__ v, Image4d vi, int64_t kernel, int64_t stride, int64_t padding) {
  for_each_pixel(xi.n * xi.c, int(out_h * out_w), [&](int64_t p, int i) {
    const StridedPlane<T> plane{x + plane_offset(xi, p), xi.sh, xi.sw};
    const int64_t oh = i / int(out_w), ow = i - oh * out_w;
    const WindowMax m = window_argmax<T>(plane, xi.h, xi.w, oh, ow, kernel, stride, padding);
    out[p * out_h * out_w + i] = v[plane_offset(vi, p) + m.r * vi.sh + m.c * vi.sw];
  });
}

// Each input element visits the windows that cover it, in row-major order
// (the CPU twin's order of adding them), and takes g from those whose
// maximum it is.
template <class T>
__global__ void __launch_bounds__(kBlock)
    max_pool_scatter(T* __restrict__ dx, const T* __restrict__ x, Image4d xi, const T* __restrict__ g, Image4d gi,
                     int64_t kernel, int64_t stride, int64_t padding) {
  for_each_pixel(xi.n * xi.c, int(xi.h * xi.w), [&](int64_t p, int i) {
    const StridedPlane<T> plane{x + plane_offset(xi, p), xi.sh, xi.sw};
    const T* src = g + plane_offset(gi, p);
    const int64_t r = i / int(xi.w), c = i - r * xi.w;
    const Covering rows = covering_windows(r, kernel, stride, padding, gi.h);
    const Covering cols = covering_windows(c, kernel, stride, padding, gi.w);
    T acc = 0;
    for (int64_t oh = rows.first; oh <= rows.last; ++oh)
      for (int64_t ow = cols.first; ow <= cols.last; ++ow) {
        const WindowMax m = window_argmax<T>(plane, xi.h, xi.w, oh, ow, kernel, stride, padding);
        if (m.r == r && m.c == c) acc += src[oh * gi.sh + ow * gi.sw];
      }
    dx[p * xi.h * xi.w + i] = acc;
  });
}

template <class T>
__global__ void __launch_bounds__(kBlock)
    upsample_forward(T* __restrict__ out, const T* __restrict__ x, Image4d xi, int64_t scale) {
  const int64_t out_w = xi.w * scale;
  for_each_pixel(xi.n * xi.c, int(xi.h * scale * out_w), [&](int64_t p, int i) {
    const int r = i / int(out_w), c = i - r * int(out_w), s = int(scale);
    out[p * xi.h * scale * out_w + i] = x[plane_offset(xi, p) + (r / s) * xi.sh + (c / s) * xi.sw];
  });
}

template <class T>
__global__ void __launch_bounds__(kBlock)
    upsample_backward(T* __restrict__ dx, const T* __restrict__ g, Image4d gi, int64_t scale) {
  const int64_t h = gi.h / scale, w = gi.w / scale;
  for_each_pixel(gi.n * gi.c, int(h * w), [&](int64_t p, int i) {
    const T* src = g + plane_offset(gi, p);
    const int64_t r = i / int(w), c = i - r * w;
    T acc = 0;
    for (int64_t dr = 0; dr < scale; ++dr)
      for (int64_t dc = 0; dc < scale; ++dc) acc += src[(r * scale + dr) * gi.sh + (c * scale + dc) * gi.sw];
    dx[p * h * w + i] = acc;
  });
}

dim3 grid_for(int64_t planes, int64_t plane_size) {
  const int64_t x = (plane_size + kBlock - 1) / kBlock;
  return dim3(unsigned(x < 1 ? 1 : (x > (int64_t(1) << 20) ? (int64_t(1) << 20) : x)),
              unsigned(planes > kMaxPlaneBlocks ? kMaxPlaneBlocks : planes));
}

// True when there is nothing to do; throws when a plane is too large for
// the kernels' 32-bit pixel indices.
bool empty(int64_t planes, int64_t plane_size) {
  if (plane_size > int64_t(INT32_MAX))
    throw std::invalid_argument("pooling: an image plane of " + std::to_string(plane_size) +
                                " pixels exceeds the CUDA kernels' limit of 2^31 - 1");
  return planes <= 0 || plane_size <= 0;
}

}  // namespace

void launch_avg_pool2d_forward(ScalarType t, void* out, int64_t out_h, int64_t out_w, const void* x, const Image4d& xi,
                               int64_t kernel, int64_t stride, int64_t padding, cudaStream_t s) {
  const int64_t planes = xi.n * xi.c;
  if (empty(planes, out_h * out_w)) return;
  const dim3 grid = grid_for(planes, out_h * out_w);
  // The divisor is computed in the element type on the host, as the CPU does.
  if (t == ScalarType::f32)
    avg_pool_forward<float><<<grid, kBlock, 0, s>>>(static_cast<float*>(out), out_h, out_w,
                                                    static_cast<const float*>(x), xi, kernel, stride, padding,
                                                    1.0f / float(kernel * kernel));
  else
    avg_pool_forward<double><<<grid, kBlock, 0, s>>>(static_cast<double*>(out), out_h, out_w,
                                                     static_cast<const double*>(x), xi, kernel, stride, padding,
                                                     1.0 / double(kernel * kernel));
  NG_CHECK_LAUNCH("avg_pool_forward");
}

void launch_avg_pool2d_backward(ScalarType t, void* dx, int64_t h, int64_t w, const void* g, const Image4d& gi,
                                int64_t kernel, int64_t stride, int64_t padding, cudaStream_t s) {
  const int64_t planes = gi.n * gi.c;
  if (empty(planes, h * w)) return;
  const dim3 grid = grid_for(planes, h * w);
  if (t == ScalarType::f32)
    avg_pool_backward<float><<<grid, kBlock, 0, s>>>(static_cast<float*>(dx), h, w, static_cast<const float*>(g), gi,
                                                     kernel, stride, padding, 1.0f / float(kernel * kernel));
  else
    avg_pool_backward<double><<<grid, kBlock, 0, s>>>(static_cast<double*>(dx), h, w, static_cast<const double*>(g),
                                                      gi, kernel, stride, padding, 1.0 / double(kernel * kernel));
  NG_CHECK_LAUNCH("avg_pool_backward");
}

void launch_max_pool2d_select(ScalarType t, void* out, int64_t out_h, int64_t out_w, const void* x, const Image4d& xi,
                              const void* v, const Image4d& vi, int64_t kernel, int64_t stride, int64_t padding,
                              cudaStream_t s) {
  const int64_t planes = xi.n * xi.c;
  if (empty(planes, out_h * out_w)) return;
  const dim3 grid = grid_for(planes, out_h * out_w);
  if (t == ScalarType::f32)
    max_pool_select<float><<<grid, kBlock, 0, s>>>(static_cast<float*>(out), out_h, out_w,
                                                   static_cast<const float*>(x), xi, static_cast<const float*>(v), vi,
                                                   kernel, stride, padding);
  else
    max_pool_select<double><<<grid, kBlock, 0, s>>>(static_cast<double*>(out), out_h, out_w,
                                                    static_cast<const double*>(x), xi, static_cast<const double*>(v),
                                                    vi, kernel, stride, padding);
  NG_CHECK_LAUNCH("max_pool_select");
}

void launch_max_pool2d_scatter(ScalarType t, void* dx, const void* x, const Image4d& xi, const void* g,
                               const Image4d& gi, int64_t kernel, int64_t stride, int64_t padding, cudaStream_t s) {
  const int64_t planes = xi.n * xi.c;
  if (empty(planes, xi.h * xi.w)) return;
  const dim3 grid = grid_for(planes, xi.h * xi.w);
  if (t == ScalarType::f32)
    max_pool_scatter<float><<<grid, kBlock, 0, s>>>(static_cast<float*>(dx), static_cast<const float*>(x), xi,
                                                    static_cast<const float*>(g), gi, kernel, stride, padding);
  else
    max_pool_scatter<double><<<grid, kBlock, 0, s>>>(static_cast<double*>(dx), static_cast<const double*>(x), xi,
                                                     static_cast<const double*>(g), gi, kernel, stride, padding);
  NG_CHECK_LAUNCH("max_pool_scatter");
}

void launch_upsample_nearest2d_forward(ScalarType t, void* out, const void* x, const Image4d& xi, int64_t scale,
                                       cudaStream_t s) {
  const int64_t planes = xi.n * xi.c, plane_size = xi.h * scale * xi.w * scale;
  if (empty(planes, plane_size)) return;
  const dim3 grid = grid_for(planes, plane_size);
  if (t == ScalarType::f32)
    upsample_forward<float><<<grid, kBlock, 0, s>>>(static_cast<float*>(out), static_cast<const float*>(x), xi, scale);
  else
    upsample_forward<double><<<grid, kBlock, 0, s>>>(static_cast<double*>(out), static_cast<const double*>(x), xi,
                                                     scale);
  NG_CHECK_LAUNCH("upsample_forward");
}

void launch_upsample_nearest2d_backward(ScalarType t, void* dx, const void* g, const Image4d& gi, int64_t scale,
                                        cudaStream_t s) {
  const int64_t planes = gi.n * gi.c, plane_size = (gi.h / scale) * (gi.w / scale);
  if (empty(planes, plane_size)) return;
  const dim3 grid = grid_for(planes, plane_size);
  if (t == ScalarType::f32)
    upsample_backward<float><<<grid, kBlock, 0, s>>>(static_cast<float*>(dx), static_cast<const float*>(g), gi, scale);
  else
    upsample_backward<double><<<grid, kBlock, 0, s>>>(static_cast<double*>(dx), static_cast<const double*>(g), gi,
                                                      scale);
  NG_CHECK_LAUNCH("upsample_backward");
}

}  // namespace ng::kernels
