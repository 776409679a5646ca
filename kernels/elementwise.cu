// Pointwise kernels. Two shapes of launch:
//  - contiguous: every operand dense in the same order; a flat grid-stride
//    loop, with 16-byte vector loads and stores when the pointers allow it
//    (memory-bound: the whole game is bytes per second);
//  - strided: any layout and broadcasting; each element's operand offsets
//    come from its output index by div/mod over the dims.
#include <cstdint>
#include <type_traits>

#include "kernels/cuda_check.h"
#include "kernels/elementwise.h"

namespace ng::kernels {

namespace {

constexpr int kThreads = 256;

int blocks_for(int64_t n, int per_thread = 1) {
  const int64_t b = (n + int64_t(kThreads) * per_thread - 1) / (int64_t(kThreads) * per_thread);
  return int(b < 1 ? 1 : (b > 65535 * 8 ? 65535 * 8 : b));
}

template <int N>
__device__ __forceinline__ void offsets_of(const StridedGeometry<N>& g, int64_t i, int64_t (&off)[N]) {
#pragma unroll
  for (int k = 0; k < N; ++k) off[k] = 0;
  for (int d = g.ndim - 1; d >= 0; --d) {
    const int64_t idx = i % g.shape[d];
    i /= g.shape[d];
#pragma unroll
    for (int k = 0; k < N; ++k) off[k] += idx * g.strides[k][d];
  }
}

// out[i] = f(a[i]) over a StridedGeometry (operand 0 is out).
template <class T, class F>
__global__ void map1(StridedGeometry<2> g, T* out, const T* a, F f) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < g.numel; i += int64_t(gridDim.x) * blockDim.x) {
    if (g.contiguous) {
      out[i] = f(a[i]);
    } else {
      int64_t off[2];
      offsets_of(g, i, off);
      out[off[0]] = f(a[off[1]]);
    }
  }
}

// Contiguous float32 unary with float4 loads: 4 elements a thread.
template <class F>
__global__ void map1_vec4(int64_t n4, float4* out, const float4* a, F f) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n4; i += int64_t(gridDim.x) * blockDim.x) {
    const float4 v = a[i];
    out[i] = make_float4(f(v.x), f(v.y), f(v.z), f(v.w));
  }
}

template <class T, class F>
__global__ void map2(StridedGeometry<3> g, T* out, const T* a, const T* b, F f) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < g.numel; i += int64_t(gridDim.x) * blockDim.x) {
    if (g.contiguous) {
      out[i] = f(a[i], b[i]);
    } else {
      int64_t off[3];
      offsets_of(g, i, off);
      out[off[0]] = f(a[off[1]], b[off[2]]);
    }
  }
}

template <class F>
__global__ void map2_vec4(int64_t n4, float4* out, const float4* a, const float4* b, F f) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n4; i += int64_t(gridDim.x) * blockDim.x) {
    const float4 x = a[i], y = b[i];
    out[i] = make_float4(f(x.x, y.x), f(x.y, y.y), f(x.z, y.z), f(x.w, y.w));
  }
}

template <class T>
__global__ void where_kernel(StridedGeometry<4> g, T* out, const T* c, const T* a, const T* b) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < g.numel; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t off[4];
    offsets_of(g, i, off);
    out[off[0]] = where_fn(c[off[1]], a[off[2]], b[off[3]]);
  }
}

template <class T>
__global__ void fill_kernel(StridedGeometry<1> g, T* out, T value) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < g.numel; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t off[1];
    offsets_of(g, i, off);
    out[off[0]] = value;
  }
}

template <class D, class S>
__global__ void copy_kernel(StridedGeometry<2> g, D* out, const S* in) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < g.numel; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t off[2];
    offsets_of(g, i, off);
    out[off[0]] = D(in[off[1]]);
  }
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

template <Unary op, class T>
struct UnaryF {
  T p0, p1;
  __device__ __forceinline__ T operator()(T x) const { return unary_fn<op, T>(x, p0, p1); }
};

template <Binary op, class T>
struct BinaryF {
  __device__ __forceinline__ T operator()(T x, T y) const { return binary_fn<op, T>(x, y); }
};

template <Unary op, class T>
void run_unary(T* out, const T* a, const StridedGeometry<2>& g, double p0, double p1, cudaStream_t s) {
  const UnaryF<op, T> f{T(p0), T(p1)};
  if constexpr (std::is_same_v<T, float>) {
    if (g.contiguous && g.numel % 4 == 0 && aligned16(out) && aligned16(a)) {
      const int64_t n4 = g.numel / 4;
      map1_vec4<<<blocks_for(n4), kThreads, 0, s>>>(n4, reinterpret_cast<float4*>(out),
                                                    reinterpret_cast<const float4*>(a), f);
      NG_CHECK_LAUNCH("map1_vec4");
      return;
    }
  }
  map1<<<blocks_for(g.numel), kThreads, 0, s>>>(g, out, a, f);
  NG_CHECK_LAUNCH("map1");
}

template <Binary op, class T>
void run_binary(T* out, const T* a, const T* b, const StridedGeometry<3>& g, cudaStream_t s) {
  const BinaryF<op, T> f{};
  if constexpr (std::is_same_v<T, float>) {
    if (g.contiguous && g.numel % 4 == 0 && aligned16(out) && aligned16(a) && aligned16(b)) {
      const int64_t n4 = g.numel / 4;
      map2_vec4<<<blocks_for(n4), kThreads, 0, s>>>(n4, reinterpret_cast<float4*>(out),
                                                    reinterpret_cast<const float4*>(a),
                                                    reinterpret_cast<const float4*>(b), f);
      NG_CHECK_LAUNCH("map2_vec4");
      return;
    }
  }
  map2<<<blocks_for(g.numel), kThreads, 0, s>>>(g, out, a, b, f);
  NG_CHECK_LAUNCH("map2");
}

}  // namespace

void launch_unary(Unary op, ScalarType t, void* out, const void* a, const StridedGeometry<2>& g, double p0, double p1,
                  cudaStream_t stream) {
  if (g.numel == 0) return;
  switch (op) {
#define NG_CASE(name)                                                                                          \
  case Unary::name:                                                                                            \
    if (t == ScalarType::f32)                                                                                  \
      run_unary<Unary::name>(static_cast<float*>(out), static_cast<const float*>(a), g, p0, p1, stream);     \
    else                                                                                                       \
      run_unary<Unary::name>(static_cast<double*>(out), static_cast<const double*>(a), g, p0, p1, stream);   \
    break;
    NG_UNARY_OPS(NG_CASE)
#undef NG_CASE
  }
}

void launch_binary(Binary op, ScalarType t, void* out, const void* a, const void* b, const StridedGeometry<3>& g,
                   cudaStream_t stream) {
  if (g.numel == 0) return;
  switch (op) {
#define NG_CASE(name)                                                                                       \
  case Binary::name:                                                                                        \
    if (t == ScalarType::f32)                                                                               \
      run_binary<Binary::name>(static_cast<float*>(out), static_cast<const float*>(a),                     \
                               static_cast<const float*>(b), g, stream);                                   \
    else                                                                                                    \
      run_binary<Binary::name>(static_cast<double*>(out), static_cast<const double*>(a),                   \
                               static_cast<const double*>(b), g, stream);                                  \
    break;
    NG_BINARY_OPS(NG_CASE)
#undef NG_CASE
  }
}

void launch_where(ScalarType t, void* out, const void* c, const void* a, const void* b, const StridedGeometry<4>& g,
                  cudaStream_t s) {
  if (g.numel == 0) return;
  if (t == ScalarType::f32)
    where_kernel<<<blocks_for(g.numel), kThreads, 0, s>>>(g, static_cast<float*>(out), static_cast<const float*>(c),
                                                          static_cast<const float*>(a), static_cast<const float*>(b));
  else
    where_kernel<<<blocks_for(g.numel), kThreads, 0, s>>>(g, static_cast<double*>(out),
                                                          static_cast<const double*>(c),
                                                          static_cast<const double*>(a),
                                                          static_cast<const double*>(b));
  NG_CHECK_LAUNCH("where_kernel");
}

void launch_fill(ScalarType t, void* out, const StridedGeometry<1>& g, double value, cudaStream_t s) {
  if (g.numel == 0) return;
  if (t == ScalarType::f32)
    fill_kernel<<<blocks_for(g.numel), kThreads, 0, s>>>(g, static_cast<float*>(out), float(value));
  else
    fill_kernel<<<blocks_for(g.numel), kThreads, 0, s>>>(g, static_cast<double*>(out), value);
  NG_CHECK_LAUNCH("fill_kernel");
}

void launch_copy(ScalarType ot, void* out, ScalarType it, const void* in, const StridedGeometry<2>& g, cudaStream_t s) {
  if (g.numel == 0) return;
  const int b = blocks_for(g.numel);
  if (ot == ScalarType::f32 && it == ScalarType::f32)
    copy_kernel<<<b, kThreads, 0, s>>>(g, static_cast<float*>(out), static_cast<const float*>(in));
  else if (ot == ScalarType::f32)
    copy_kernel<<<b, kThreads, 0, s>>>(g, static_cast<float*>(out), static_cast<const double*>(in));
  else if (it == ScalarType::f32)
    copy_kernel<<<b, kThreads, 0, s>>>(g, static_cast<double*>(out), static_cast<const float*>(in));
  else
    copy_kernel<<<b, kThreads, 0, s>>>(g, static_cast<double*>(out), static_cast<const double*>(in));
  NG_CHECK_LAUNCH("copy_kernel");
}

}  // namespace ng::kernels
