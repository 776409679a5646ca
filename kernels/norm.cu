// Batch / group / layer norm (see norm.h). Forward: a statistics kernel
// (Welford, merged across threads, warps and, for a few huge statistics,
// blocks), then an elementwise normalise + affine (+ SiLU) kernel; the same
// elementwise kernel, recomputing y, gives the fused SiLU's backward. Backward: per-row
// sums, per-statistic coefficients, then an elementwise input gradient; the
// weight and bias gradients are column sums of the per-row sums, which the
// caller takes with the deterministic reduce kernels.
//
// Precision: Welford runs in the element type (its updates add only
// non-negative terms to M2, so float32 keeps ~1e-7 relative accuracy); the
// backward's sums, which can cancel (gy has both signs), run in double; the
// elementwise passes compute in the element type.
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "kernels/cuda_check.h"
#include "kernels/norm.h"
#include "kernels/pointwise.h"
#include "kernels/warp_reduce.cuh"

namespace ng::kernels {

namespace {

constexpr int kBlock = 256;
constexpr int64_t kTargetBlocks = 512;  // with 256 threads, ~ what keeps an H100 (132 SMs) busy
constexpr int64_t kMinPerThread = 8;    // elements per thread below which splitting a statistic is not worth it
constexpr int64_t kMaxChunks = 1024;
constexpr int64_t kMaxBlocks = int64_t(1) << 24;

__host__ __device__ __forceinline__ int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t clamp64(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : (v > hi ? hi : v); }
unsigned grid_for(int64_t blocks) { return unsigned(clamp64(blocks, 1, kMaxBlocks)); }
bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

// ---- the layout ------------------------------------------------------------

// A statistic covers `count` segments (one per sample it spans) of
// `segment` contiguous elements, C * S apart (the rest of the layout's
// arithmetic is NormLayout's, kernels/layouts.h).
__host__ __device__ __forceinline__ int64_t segment(const NormLayout& g) { return g.group_channels() * g.S; }
// Offset of statistic k's first element.
__device__ __forceinline__ int64_t stat_base(const NormLayout& g, int64_t k) {
  const int64_t group = k % g.G, first = g.per_sample ? k / g.G : 0;
  return (first * g.C + group * g.group_channels()) * g.S;
}

// ---- Welford ---------------------------------------------------------------

// The count, mean and sum of squared deviations (M2) of a set of values.
template <class A>
struct Welford {
  A mean, m2;
  long long n;
};

// Chan et al.'s merge of two sets: exact in exact arithmetic, and stable,
// since M2 only ever grows by non-negative terms.
template <class A>
__device__ __forceinline__ Welford<A> merge(const Welford<A>& a, const Welford<A>& b) {
  if (b.n == 0) return a;
  if (a.n == 0) return b;
  const long long n = a.n + b.n;
  const A delta = b.mean - a.mean, fb = A(b.n) / A(n);
  return {a.mean + delta * fb, a.m2 + b.m2 + delta * delta * A(a.n) * fb, n};
}

template <class A>
struct WelfordMerge {
  __device__ Welford<A> operator()(const Welford<A>& a, const Welford<A>& b) const { return merge(a, b); }
};

// Found by argument-dependent lookup from warp_reduce.
template <class A>
__device__ __forceinline__ Welford<A> shfl_down(const Welford<A>& w, int offset) {
  return {kernels::shfl_down(w.mean, offset), kernels::shfl_down(w.m2, offset), kernels::shfl_down(w.n, offset)};
}

// Four values at once: their own mean and M2 (two passes over registers),
// then one merge, so one division per four elements instead of four.
template <class A>
__device__ __forceinline__ Welford<A> add4(const Welford<A>& w, A a, A b, A c, A d) {
  const A mean = (a + b + c + d) * A(0.25);
  const A m2 = (a - mean) * (a - mean) + (b - mean) * (b - mean) + (c - mean) * (c - mean) + (d - mean) * (d - mean);
  return merge(w, Welford<A>{mean, m2, 4});
}

template <class T>
__device__ __forceinline__ void write_stat(int64_t k, const Welford<T>& w, double eps, T* mean, T* rstd, T* var) {
  const double n = double(w.n), v = double(w.m2) / n;  // biased; 0/0 = NaN for an empty statistic, as on the CPU
  mean[k] = w.n > 0 ? w.mean : T(NAN);
  rstd[k] = T(1.0 / sqrt(v + eps));
  if (var) var[k] = T(v);
}

// ---- forward ---------------------------------------------------------------

// Work item (statistic k, chunk c): the block's threads stride through the
// chunk's elements, keeping (segment, position) so that a division happens
// only when a thread crosses into another segment.
template <class T>
__global__ void __launch_bounds__(kBlock)
    norm_stats(NormLayout g, int64_t chunks, const T* __restrict__ x, double eps, T* __restrict__ mean,
               T* __restrict__ rstd, T* __restrict__ var, Welford<T>* __restrict__ partial) {
  __shared__ Welford<T> smem[32];
  const int64_t items = g.num_stats() * chunks, seg = segment(g), size = g.stat_size(), seg_stride = g.C * g.S;
  const int64_t len = ceil_div(size, chunks), step = blockDim.x;
  for (int64_t item = blockIdx.x; item < items; item += gridDim.x) {  // block-uniform
    const int64_t k = item / chunks, c = item - k * chunks;
    const int64_t end = (c + 1) * len < size ? (c + 1) * len : size;
    int64_t j = c * len + threadIdx.x;
    const T* base = x + stat_base(g, k);
    // Segment and position of element j; the step split into whole segments
    // and a remainder, so moving on costs additions only.
    int64_t r = 0, i = 0;
    if (j < end) {
      r = j / seg;
      i = j - r * seg;
    }
    const int64_t step_segs = step / seg, step_rem = step - step_segs * seg;
    auto next = [&]() {  // the offset of element j, then move to j + step
      const int64_t off = r * seg_stride + i;
      i += step_rem;
      r += step_segs;
      if (i >= seg) {
        i -= seg;
        ++r;
      }
      return off;
    };
    Welford<T> w{T(0), T(0), 0};
    for (; j + 3 * step < end; j += 4 * step) {
      const int64_t o0 = next(), o1 = next(), o2 = next(), o3 = next();
      w = add4(w, base[o0], base[o1], base[o2], base[o3]);
    }
    for (; j < end; j += step) w = merge(w, Welford<T>{base[next()], T(0), 1});
    w = block_reduce(w, smem, Welford<T>{T(0), T(0), 0}, WelfordMerge<T>{});
    if (threadIdx.x == 0) {
      if (chunks == 1)
        write_stat(k, w, eps, mean, rstd, var);
      else
        partial[item] = w;
    }
  }
}

// Second pass of a split statistic: a warp merges its chunks in order.
template <class T>
__global__ void __launch_bounds__(kBlock)
    norm_stats_finish(NormLayout g, int64_t chunks, const Welford<T>* __restrict__ partial, double eps,
                      T* __restrict__ mean, T* __restrict__ rstd, T* __restrict__ var) {
  constexpr int kWarps = kBlock / 32;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t stats = g.num_stats();
  for (int64_t k = int64_t(blockIdx.x) * kWarps + warp; k < stats; k += int64_t(gridDim.x) * kWarps) {  // warp-uniform
    Welford<T> w{T(0), T(0), 0};
    for (int64_t c = lane; c < chunks; c += 32) w = merge(w, partial[k * chunks + c]);
    w = warp_reduce(w, WelfordMerge<T>{});
    if (lane == 0) write_stat(k, w, eps, mean, rstd, var);
  }
}

// Elementwise passes handle four consecutive elements a thread (16-byte
// loads for aligned float32), and track (n, c, s) incrementally so the
// divisions happen once per four elements.
template <class T>
__device__ __forceinline__ void load4(const T* __restrict__ p, int64_t e, int64_t total, bool vec, T (&v)[4]) {
  if constexpr (std::is_same_v<T, float>) {
    if (vec && e + 4 <= total) {
      const float4 q = *reinterpret_cast<const float4*>(p + e);
      v[0] = q.x, v[1] = q.y, v[2] = q.z, v[3] = q.w;
      return;
    }
  }
#pragma unroll
  for (int u = 0; u < 4; ++u) v[u] = e + u < total ? p[e + u] : T(0);
}

template <class T>
__device__ __forceinline__ void store4(T* __restrict__ p, int64_t e, int64_t total, bool vec, const T (&v)[4]) {
  if constexpr (std::is_same_v<T, float>) {
    if (vec && e + 4 <= total) {
      *reinterpret_cast<float4*>(p + e) = make_float4(v[0], v[1], v[2], v[3]);
      return;
    }
  }
#pragma unroll
  for (int u = 0; u < 4; ++u)
    if (e + u < total) p[e + u] = v[u];
}

// The position (n, c, s) of element e, advanced one element at a time.
struct Position {
  int64_t n, c, s;
  __device__ Position(const NormLayout& g, int64_t e) {
    const int64_t row = e / g.S;
    s = e - row * g.S;
    n = row / g.C;
    c = row - n * g.C;
  }
  // Returns true when the step entered another (n, c) row.
  __device__ bool step(const NormLayout& g) {
    if (++s < g.S) return false;
    s = 0;
    if (++c == g.C) {
      c = 0;
      ++n;
    }
    return true;
  }
};

// What the elementwise pass makes of y = (x - mean) * rstd * w + b.
enum class Apply { affine, affine_silu, silu_grad };

template <class T, Apply kApply>
__global__ void __launch_bounds__(kBlock)
    norm_apply(NormLayout g, const T* __restrict__ x, const T* __restrict__ weight, const T* __restrict__ bias,
               const T* __restrict__ mean, const T* __restrict__ rstd, const T* __restrict__ gz,
               T* __restrict__ out, bool vec) {
  const int64_t total = g.N * g.C * g.S, groups = ceil_div(total, 4);
  for (int64_t q = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; q < groups; q += int64_t(gridDim.x) * blockDim.x) {
    const int64_t e = 4 * q;
    Position p(g, e);
    T mu, scale, shift;
    auto row_params = [&]() {  // y = (x - mean) * (rstd * w) + b for the row (n, c)
      const int64_t k = g.stat_of(p.n, p.c);
      mu = mean[k];
      scale = rstd[k] * (weight ? weight[p.c] : T(1));
      shift = bias ? bias[p.c] : T(0);
    };
    row_params();
    T v[4], gv[4];
    load4(x, e, total, vec, v);
    if constexpr (kApply == Apply::silu_grad) load4(gz, e, total, vec, gv);
#pragma unroll
    for (int u = 0; u < 4; ++u) {
      v[u] = (v[u] - mu) * scale + shift;
      if constexpr (kApply == Apply::affine_silu) v[u] = unary_fn<Unary::silu, T>(v[u], T(0), T(0));
      if constexpr (kApply == Apply::silu_grad) v[u] = gv[u] * unary_fn<Unary::silu_grad, T>(v[u], T(0), T(0));
      if (u < 3 && e + u + 1 < total && p.step(g)) row_params();
    }
    store4(out, e, total, vec, v);
  }
}

template <class T, Apply kApply>
void apply(const NormLayout& g, const T* x, const T* w, const T* b, const T* mean, const T* rstd, const T* gz, T* out,
           cudaStream_t s) {
  const int64_t total = g.N * g.C * g.S;
  if (total == 0) return;
  const bool vec = aligned16(x) && aligned16(out) && (gz == nullptr || aligned16(gz));
  norm_apply<T, kApply><<<grid_for(ceil_div(ceil_div(total, 4), kBlock)), kBlock, 0, s>>>(g, x, w, b, mean, rstd,
                                                                                          gz, out, vec);
  NG_CHECK_LAUNCH("norm_apply");
}

int64_t stat_chunks(const NormLayout& g) {
  const int64_t stats = g.num_stats();
  if (stats == 0 || stats >= kTargetBlocks) return 1;
  const int64_t wanted = ceil_div(kTargetBlocks, stats), worth = g.stat_size() / (kBlock * kMinPerThread);
  return clamp64(wanted < worth ? wanted : worth, 1, kMaxChunks);
}

// Statistics of a few hundred elements or less would leave most of a
// 256-thread block idle: give them 64 threads.
int stat_threads(const NormLayout& g) { return g.stat_size() >= 4 * kBlock ? kBlock : 64; }

template <class T>
void forward(const NormLayout& g, const T* x, const T* w, const T* b, double eps, NormEpilogue epilogue, T* y,
             T* mean, T* rstd, T* var, void* workspace, cudaStream_t s) {
  const int64_t stats = g.num_stats(), chunks = stat_chunks(g);
  Welford<T>* partial = static_cast<Welford<T>*>(workspace);
  norm_stats<T><<<grid_for(stats * chunks), stat_threads(g), 0, s>>>(g, chunks, x, eps, mean, rstd, var, partial);
  NG_CHECK_LAUNCH("norm_stats");
  if (chunks > 1) {
    norm_stats_finish<T><<<grid_for(ceil_div(stats, kBlock / 32)), kBlock, 0, s>>>(g, chunks, partial, eps, mean,
                                                                                   rstd, var);
    NG_CHECK_LAUNCH("norm_stats_finish");
  }
  if (epilogue == NormEpilogue::silu)
    apply<T, Apply::affine_silu>(g, x, w, b, mean, rstd, nullptr, y, s);
  else
    apply<T, Apply::affine>(g, x, w, b, mean, rstd, nullptr, y, s);
}

// ---- backward --------------------------------------------------------------

struct SumFn {
  __device__ double operator()(double a, double b) const { return a + b; }
};

// A group of kGroup threads (1, a warp, or the block) per (n, c) row.
template <class T, int kGroup>
__global__ void __launch_bounds__(kBlock)
    norm_rows(NormLayout g, const T* __restrict__ gy, const T* __restrict__ x, const T* __restrict__ mean,
              const T* __restrict__ rstd, double* __restrict__ row_g, double* __restrict__ row_gxhat) {
  __shared__ double smem[32];
  constexpr int kRowsPerBlock = kBlock / kGroup;
  const int lane = threadIdx.x % kGroup, group = threadIdx.x / kGroup;
  const int64_t rows = g.N * g.C;
  for (int64_t first = int64_t(blockIdx.x) * kRowsPerBlock; first < rows;
       first += int64_t(gridDim.x) * kRowsPerBlock) {  // block-uniform
    const int64_t r = first + group;
    const bool valid = r < rows;
    const int64_t n = valid ? r / g.C : 0, c = valid ? r - n * g.C : 0, k = g.stat_of(n, c);
    const double mu = valid ? double(mean[k]) : 0.0;
    const T *gs = gy + r * g.S, *xs = x + r * g.S;
    double a = 0, b = 0;
    const int64_t len = valid ? g.S : 0;
    for (int64_t s = lane; s < len; s += kGroup) {
      const double gv = double(gs[s]);
      a += gv;
      b += gv * (double(xs[s]) - mu);
    }
    if constexpr (kGroup == 32) {
      a = warp_reduce(a, SumFn{});
      b = warp_reduce(b, SumFn{});
    } else if constexpr (kGroup == kBlock) {
      a = block_reduce(a, smem, 0.0, SumFn{});
      b = block_reduce(b, smem, 0.0, SumFn{});
    }
    if (lane == 0 && valid) {
      row_g[r] = a;
      row_gxhat[r] = b * double(rstd[k]);
    }
  }
}

// Per statistic k (a warp each): mean(g') and mean(g' * xhat) over its
// elements, from the row sums: coeffs[k] and coeffs[stats + k].
template <class T>
__global__ void __launch_bounds__(kBlock)
    norm_coeffs(NormLayout g, const T* __restrict__ weight, const double* __restrict__ row_g,
                const double* __restrict__ row_gxhat, double* __restrict__ coeffs) {
  constexpr int kWarps = kBlock / 32;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t stats = g.num_stats(), cg = g.group_channels(), count = g.per_sample ? 1 : g.N;
  const double m = double(g.stat_size());
  for (int64_t k = int64_t(blockIdx.x) * kWarps + warp; k < stats; k += int64_t(gridDim.x) * kWarps) {  // warp-uniform
    const int64_t group = k % g.G, first = g.per_sample ? k / g.G : 0;
    // Lane l visits rows q = l, l + 32, ... of the statistic's count x cg
    // (sample, channel) rows, tracking (q / cg, q % cg) by additions.
    double a = 0, b = 0;
    int64_t qn = lane / cg, qc = lane - (lane / cg) * cg;
    const int64_t step_n = 32 / cg, step_c = 32 - step_n * cg;
    for (int64_t q = lane; q < count * cg; q += 32) {
      const int64_t c = group * cg + qc, r = (first + qn) * g.C + c;
      const double w = weight ? double(weight[c]) : 1.0;
      a += w * row_g[r];
      b += w * row_gxhat[r];
      qc += step_c;
      qn += step_n;
      if (qc >= cg) {
        qc -= cg;
        ++qn;
      }
    }
    a = warp_reduce(a, SumFn{});
    b = warp_reduce(b, SumFn{});
    if (lane == 0) {
      coeffs[k] = a / m;
      coeffs[stats + k] = b / m;
    }
  }
}

template <class T>
__global__ void __launch_bounds__(kBlock)
    norm_input_grad(NormLayout g, const T* __restrict__ gy, const T* __restrict__ x, const T* __restrict__ mean,
                    const T* __restrict__ rstd, const T* __restrict__ weight, const double* __restrict__ coeffs,
                    T* __restrict__ gx, bool vec) {
  const int64_t total = g.N * g.C * g.S, groups = ceil_div(total, 4), stats = g.num_stats();
  for (int64_t q = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; q < groups; q += int64_t(gridDim.x) * blockDim.x) {
    const int64_t e = 4 * q;
    Position p(g, e);
    T mu, rs, w, mean_g, mean_gxhat;
    auto row_params = [&]() {
      const int64_t k = g.stat_of(p.n, p.c);
      mu = mean[k];
      rs = rstd[k];
      w = weight ? weight[p.c] : T(1);
      mean_g = T(coeffs[k]);
      mean_gxhat = T(coeffs[stats + k]);
    };
    row_params();
    T gv[4], xv[4];
    load4(gy, e, total, vec, gv);
    load4(x, e, total, vec, xv);
#pragma unroll
    for (int u = 0; u < 4; ++u) {
      const T xhat = (xv[u] - mu) * rs;
      gv[u] = rs * (w * gv[u] - mean_g - xhat * mean_gxhat);
      if (u < 3 && e + u + 1 < total && p.step(g)) row_params();
    }
    store4(gx, e, total, vec, gv);
  }
}

template <class T>
void backward_rows(const NormLayout& g, const T* gy, const T* x, const T* mean, const T* rstd, double* row_g,
                   double* row_gxhat, cudaStream_t s) {
  const int64_t rows = g.N * g.C;
  if (g.S < 32) {
    norm_rows<T, 1><<<grid_for(ceil_div(rows, kBlock)), kBlock, 0, s>>>(g, gy, x, mean, rstd, row_g, row_gxhat);
    NG_CHECK_LAUNCH("norm_rows<1>");
  } else if (g.S < 4096) {
    norm_rows<T, 32><<<grid_for(ceil_div(rows, kBlock / 32)), kBlock, 0, s>>>(g, gy, x, mean, rstd, row_g, row_gxhat);
    NG_CHECK_LAUNCH("norm_rows<32>");
  } else {
    norm_rows<T, kBlock><<<grid_for(rows), kBlock, 0, s>>>(g, gy, x, mean, rstd, row_g, row_gxhat);
    NG_CHECK_LAUNCH("norm_rows<256>");
  }
}

template <class T>
void backward_input(const NormLayout& g, const T* gy, const T* x, const T* mean, const T* rstd, const T* w,
                    const double* row_g, const double* row_gxhat, double* coeffs, T* gx, cudaStream_t s) {
  norm_coeffs<T><<<grid_for(ceil_div(g.num_stats(), kBlock / 32)), kBlock, 0, s>>>(g, w, row_g, row_gxhat, coeffs);
  NG_CHECK_LAUNCH("norm_coeffs");
  const int64_t total = g.N * g.C * g.S;
  const bool vec = aligned16(gy) && aligned16(x) && aligned16(gx);
  norm_input_grad<T><<<grid_for(ceil_div(ceil_div(total, 4), kBlock)), kBlock, 0, s>>>(g, gy, x, mean, rstd, w,
                                                                                        coeffs, gx, vec);
  NG_CHECK_LAUNCH("norm_input_grad");
}

}  // namespace

size_t norm_forward_workspace_bytes(ScalarType t, const NormLayout& g) {
  const int64_t chunks = stat_chunks(g);
  if (chunks == 1) return 0;
  const size_t item = t == ScalarType::f32 ? sizeof(Welford<float>) : sizeof(Welford<double>);
  return size_t(g.num_stats()) * size_t(chunks) * item;
}

void launch_norm_forward(ScalarType t, const NormLayout& g, const void* x, const void* weight, const void* bias,
                         double eps, NormEpilogue epilogue, void* y, void* mean, void* rstd, void* var,
                         void* workspace, cudaStream_t stream) {
  if (g.num_stats() == 0) return;
  if (t == ScalarType::f32)
    forward(g, static_cast<const float*>(x), static_cast<const float*>(weight), static_cast<const float*>(bias), eps,
            epilogue, static_cast<float*>(y), static_cast<float*>(mean), static_cast<float*>(rstd),
            static_cast<float*>(var), workspace, stream);
  else
    forward(g, static_cast<const double*>(x), static_cast<const double*>(weight), static_cast<const double*>(bias),
            eps, epilogue, static_cast<double*>(y), static_cast<double*>(mean), static_cast<double*>(rstd),
            static_cast<double*>(var), workspace, stream);
}

void launch_norm_silu_grad(ScalarType t, const NormLayout& g, const void* gz, const void* x, const void* weight,
                           const void* bias, const void* mean, const void* rstd, void* gy, cudaStream_t stream) {
  if (t == ScalarType::f32)
    apply<float, Apply::silu_grad>(g, static_cast<const float*>(x), static_cast<const float*>(weight),
                                   static_cast<const float*>(bias), static_cast<const float*>(mean),
                                   static_cast<const float*>(rstd), static_cast<const float*>(gz),
                                   static_cast<float*>(gy), stream);
  else
    apply<double, Apply::silu_grad>(g, static_cast<const double*>(x), static_cast<const double*>(weight),
                                    static_cast<const double*>(bias), static_cast<const double*>(mean),
                                    static_cast<const double*>(rstd), static_cast<const double*>(gz),
                                    static_cast<double*>(gy), stream);
}

void launch_norm_backward_rows(ScalarType t, const NormLayout& g, const void* gy, const void* x, const void* mean,
                               const void* rstd, double* row_g, double* row_gxhat, cudaStream_t stream) {
  if (g.N * g.C == 0) return;
  if (t == ScalarType::f32)
    backward_rows(g, static_cast<const float*>(gy), static_cast<const float*>(x), static_cast<const float*>(mean),
                  static_cast<const float*>(rstd), row_g, row_gxhat, stream);
  else
    backward_rows(g, static_cast<const double*>(gy), static_cast<const double*>(x), static_cast<const double*>(mean),
                  static_cast<const double*>(rstd), row_g, row_gxhat, stream);
}

void launch_norm_backward_input(ScalarType t, const NormLayout& g, const void* gy, const void* x, const void* mean,
                                const void* rstd, const void* weight, const double* row_g, const double* row_gxhat,
                                double* coeffs, void* gx, cudaStream_t stream) {
  if (g.N * g.C * g.S == 0) return;
  if (t == ScalarType::f32)
    backward_input(g, static_cast<const float*>(gy), static_cast<const float*>(x), static_cast<const float*>(mean),
                   static_cast<const float*>(rstd), static_cast<const float*>(weight), row_g, row_gxhat, coeffs,
                   static_cast<float*>(gx), stream);
  else
    backward_input(g, static_cast<const double*>(gy), static_cast<const double*>(x), static_cast<const double*>(mean),
                   static_cast<const double*>(rstd), static_cast<const double*>(weight), row_g, row_gxhat, coeffs,
                   static_cast<double*>(gx), stream);
}

}  // namespace ng::kernels
