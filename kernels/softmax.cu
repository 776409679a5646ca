// softmax / log_softmax. Each line along D is reduced twice in the forward
// (its max, then the sum of exp(x - max)) and once in the backward, then
// written. Two layouts:
//  - inner == 1 (the last dim, as in attention): lines are contiguous rows;
//    a warp per row (a block per row when D > 1024) reads them coalesced and
//    reduces with shuffles; rows this short stay in L1 between the passes.
//  - inner > 1 (or rows too short to share): a thread per line; neighbouring
//    threads own neighbouring lines, so each step along D is coalesced.
// Element math is in the element type (expf for float32: the max makes every
// exponent <= 0, so nothing overflows); the sums along D accumulate in
// double, as the CPU's do, so a long line's sum carries no float32 rounding
// drift (a sequential float32 sum of 4000 terms can be off by 1e-5 relative).
#include <cmath>
#include <cstdint>

#include "kernels/cuda_check.h"
#include "kernels/softmax.h"
#include "kernels/warp_reduce.cuh"

namespace ng::kernels {

namespace {

constexpr int kBlock = 256;
constexpr int64_t kMaxBlocks = int64_t(1) << 24;

__device__ __forceinline__ float exp_of(float v) { return expf(v); }
__device__ __forceinline__ double exp_of(double v) { return exp(v); }

// As std::max(m, v) on the CPU: a NaN never becomes the max (the NaN then
// reaches the output through exp(NaN - max) instead, as on the CPU).
struct MaxFn {
  template <class A>
  __device__ A operator()(A a, A b) const { return a < b ? b : a; }
};
struct SumFn {
  template <class A>
  __device__ A operator()(A a, A b) const { return a + b; }
};

// Every thread of the row's group gets the result.
template <int kGroup, class A, class F>
__device__ __forceinline__ A group_allreduce(A v, A* smem, F f) {
  if constexpr (kGroup == 32)
    return warp_allreduce(v, f);
  else
    return block_allreduce(v, smem, f);
}

template <class T, int kGroup>
__global__ void __launch_bounds__(kBlock)
    softmax_rows_forward(const T* __restrict__ x, T* __restrict__ y, int64_t rows, int64_t D, bool log) {
  __shared__ T smem_max[32];
  __shared__ double smem_sum[32];
  constexpr int kRowsPerBlock = kBlock / kGroup;
  const int lane = threadIdx.x % kGroup, group = threadIdx.x / kGroup;
  // Block-uniform loop: every thread meets every shuffle and barrier.
  for (int64_t first = int64_t(blockIdx.x) * kRowsPerBlock; first < rows;
       first += int64_t(gridDim.x) * kRowsPerBlock) {
    const int64_t row = first + group;
    const int64_t n = row < rows ? D : 0;  // a group past the last row loops zero times
    const T* in = x + row * D;
    T* out = y + row * D;
    T m = -T(INFINITY);
    for (int64_t j = lane; j < n; j += kGroup) m = MaxFn{}(m, in[j]);
    m = group_allreduce<kGroup>(m, smem_max, MaxFn{});
    double s = 0;
    for (int64_t j = lane; j < n; j += kGroup) s += double(exp_of(in[j] - m));
    s = group_allreduce<kGroup>(s, smem_sum, SumFn{});
    if (log) {
      // (x - max) first: exact or nearly (x and max are close where it
      // matters), so a large max costs no precision; then - log(sum).
      const T log_s = T(::log(s));
      for (int64_t j = lane; j < n; j += kGroup) out[j] = (in[j] - m) - log_s;
    } else {
      const T inv = T(1.0 / s);
      for (int64_t j = lane; j < n; j += kGroup) out[j] = exp_of(in[j] - m) * inv;
    }
  }
}

template <class T, int kGroup>
__global__ void __launch_bounds__(kBlock)
    softmax_rows_backward(const T* __restrict__ g, const T* __restrict__ y, T* __restrict__ gx, int64_t rows,
                          int64_t D, bool log) {
  __shared__ double smem[32];
  constexpr int kRowsPerBlock = kBlock / kGroup;
  const int lane = threadIdx.x % kGroup, group = threadIdx.x / kGroup;
  for (int64_t first = int64_t(blockIdx.x) * kRowsPerBlock; first < rows;
       first += int64_t(gridDim.x) * kRowsPerBlock) {
    const int64_t row = first + group;
    const int64_t n = row < rows ? D : 0;
    const T *gs = g + row * D, *ys = y + row * D;
    T* out = gx + row * D;
    double s = 0;
    if (log)
      for (int64_t j = lane; j < n; j += kGroup) s += double(gs[j]);
    else
      for (int64_t j = lane; j < n; j += kGroup) s += double(gs[j]) * double(ys[j]);
    s = group_allreduce<kGroup>(s, smem, SumFn{});
    const T sum = T(s);
    if (log)
      for (int64_t j = lane; j < n; j += kGroup) out[j] = gs[j] - exp_of(ys[j]) * sum;
    else
      for (int64_t j = lane; j < n; j += kGroup) out[j] = ys[j] * (gs[j] - sum);
  }
}

// A thread per line (o, i); consecutive elements of a line are `inner` apart.
template <class T>
__global__ void __launch_bounds__(kBlock)
    softmax_lines_forward(const T* __restrict__ x, T* __restrict__ y, int64_t outer, int64_t D, int64_t inner,
                          bool log) {
  const int64_t lines = outer * inner;
  for (int64_t line = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; line < lines;
       line += int64_t(gridDim.x) * blockDim.x) {
    const int64_t o = line / inner, base = o * D * inner + (line - o * inner);
    const T* in = x + base;
    T* out = y + base;
    T m = -T(INFINITY);
    for (int64_t j = 0; j < D; ++j) m = MaxFn{}(m, in[j * inner]);
    double s = 0;
    for (int64_t j = 0; j < D; ++j) s += double(exp_of(in[j * inner] - m));
    if (log) {
      const T log_s = T(::log(s));
      for (int64_t j = 0; j < D; ++j) out[j * inner] = (in[j * inner] - m) - log_s;
    } else {
      const T inv = T(1.0 / s);
      for (int64_t j = 0; j < D; ++j) out[j * inner] = exp_of(in[j * inner] - m) * inv;
    }
  }
}

template <class T>
__global__ void __launch_bounds__(kBlock)
    softmax_lines_backward(const T* __restrict__ g, const T* __restrict__ y, T* __restrict__ gx, int64_t outer,
                           int64_t D, int64_t inner, bool log) {
  const int64_t lines = outer * inner;
  for (int64_t line = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; line < lines;
       line += int64_t(gridDim.x) * blockDim.x) {
    const int64_t o = line / inner, base = o * D * inner + (line - o * inner);
    const T *gs = g + base, *ys = y + base;
    T* out = gx + base;
    double s = 0;
    if (log) {
      for (int64_t j = 0; j < D; ++j) s += double(gs[j * inner]);
      const T sum = T(s);
      for (int64_t j = 0; j < D; ++j) out[j * inner] = gs[j * inner] - exp_of(ys[j * inner]) * sum;
    } else {
      for (int64_t j = 0; j < D; ++j) s += double(gs[j * inner]) * double(ys[j * inner]);
      const T sum = T(s);
      for (int64_t j = 0; j < D; ++j) out[j * inner] = ys[j * inner] * (gs[j * inner] - sum);
    }
  }
}

unsigned blocks_for(int64_t work, int64_t per_block) {
  const int64_t b = (work + per_block - 1) / per_block;
  return unsigned(b < 1 ? 1 : (b > kMaxBlocks ? kMaxBlocks : b));
}

// Rows of at most this many elements are better served by a thread each.
constexpr int64_t kShortRow = 16;
constexpr int64_t kWarpRowLimit = 1024;

template <class T>
void forward(const T* x, T* y, int64_t outer, int64_t D, int64_t inner, bool log, cudaStream_t s) {
  if (inner == 1 && D > kShortRow) {
    if (D <= kWarpRowLimit) {
      softmax_rows_forward<T, 32><<<blocks_for(outer, kBlock / 32), kBlock, 0, s>>>(x, y, outer, D, log);
      NG_CHECK_LAUNCH("softmax_rows_forward<32>");
    } else {
      softmax_rows_forward<T, kBlock><<<blocks_for(outer, 1), kBlock, 0, s>>>(x, y, outer, D, log);
      NG_CHECK_LAUNCH("softmax_rows_forward<256>");
    }
    return;
  }
  softmax_lines_forward<T><<<blocks_for(outer * inner, kBlock), kBlock, 0, s>>>(x, y, outer, D, inner, log);
  NG_CHECK_LAUNCH("softmax_lines_forward");
}

template <class T>
void backward(const T* g, const T* y, T* gx, int64_t outer, int64_t D, int64_t inner, bool log, cudaStream_t s) {
  if (inner == 1 && D > kShortRow) {
    if (D <= kWarpRowLimit) {
      softmax_rows_backward<T, 32><<<blocks_for(outer, kBlock / 32), kBlock, 0, s>>>(g, y, gx, outer, D, log);
      NG_CHECK_LAUNCH("softmax_rows_backward<32>");
    } else {
      softmax_rows_backward<T, kBlock><<<blocks_for(outer, 1), kBlock, 0, s>>>(g, y, gx, outer, D, log);
      NG_CHECK_LAUNCH("softmax_rows_backward<256>");
    }
    return;
  }
  softmax_lines_backward<T><<<blocks_for(outer * inner, kBlock), kBlock, 0, s>>>(g, y, gx, outer, D, inner, log);
  NG_CHECK_LAUNCH("softmax_lines_backward");
}

}  // namespace

void launch_softmax_forward(ScalarType t, const SoftmaxLayout& l, const void* x, void* y, bool log, cudaStream_t stream) {
  if (l.outer * l.D * l.inner == 0) return;
  if (t == ScalarType::f32)
    forward(static_cast<const float*>(x), static_cast<float*>(y), l.outer, l.D, l.inner, log, stream);
  else
    forward(static_cast<const double*>(x), static_cast<double*>(y), l.outer, l.D, l.inner, log, stream);
}

void launch_softmax_backward(ScalarType t, const SoftmaxLayout& l, const void* g, const void* y, void* gx, bool log,
                             cudaStream_t stream) {
  if (l.outer * l.D * l.inner == 0) return;
  if (t == ScalarType::f32)
    backward(static_cast<const float*>(g), static_cast<const float*>(y), static_cast<float*>(gx), l.outer, l.D,
             l.inner, log, stream);
  else
    backward(static_cast<const double*>(g), static_cast<const double*>(y), static_cast<double*>(gx), l.outer, l.D,
             l.inner, log, stream);
}

}  // namespace ng::kernels
