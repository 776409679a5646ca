// Device helpers for kernels that work four elements at a time: one Philox
// block gives four random numbers, so thread b of a Philox-driven kernel owns
// elements 4b .. 4b+3 of every operand. Loads and stores of those four go
// through 16-byte vector accesses (one float4, or two double2) when the
// pointer allows it, and element by element otherwise (a misaligned view, or
// the last, partial group).
//
// CUDA only (nvcc); included by the .cu files of kernels/.
#pragma once

#include <cstdint>

namespace ng::kernels {

template <class T>
struct Four {
  T v[4];
};

inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

// One 16-byte-aligned group as vectors: a float4, or two double2.
__device__ __forceinline__ Four<float> load_vector(const float* p) {
  const float4 x = *reinterpret_cast<const float4*>(p);
  return {{x.x, x.y, x.z, x.w}};
}
__device__ __forceinline__ Four<double> load_vector(const double* p) {
  const double2 a = reinterpret_cast<const double2*>(p)[0], b = reinterpret_cast<const double2*>(p)[1];
  return {{a.x, a.y, b.x, b.y}};
}
__device__ __forceinline__ void store_vector(float* p, const Four<float>& x) {
  *reinterpret_cast<float4*>(p) = make_float4(x.v[0], x.v[1], x.v[2], x.v[3]);
}
__device__ __forceinline__ void store_vector(double* p, const Four<double>& x) {
  reinterpret_cast<double2*>(p)[0] = make_double2(x.v[0], x.v[1]);
  reinterpret_cast<double2*>(p)[1] = make_double2(x.v[2], x.v[3]);
}

// `p` points at the group's first element; `vec` says the operand's base
// pointer is 16-byte aligned (then so is every group: 4 floats = 16 bytes,
// 4 doubles = 32 bytes); `count` (1..4) is how many elements exist.
template <class T>
__device__ __forceinline__ Four<T> load4(const T* p, int count, bool vec) {
  if (vec && count == 4) return load_vector(p);
  Four<T> r{};
#pragma unroll
  for (int k = 0; k < 4; ++k)
    if (k < count) r.v[k] = p[k];
  return r;
}

template <class T>
__device__ __forceinline__ void store4(T* p, const Four<T>& x, int count, bool vec) {
  if (vec && count == 4) {
    store_vector(p, x);
    return;
  }
#pragma unroll
  for (int k = 0; k < 4; ++k)
    if (k < count) p[k] = x.v[k];
}

// Groups of four over n elements: ceil(n / 4), each one Philox block.
__host__ __device__ inline int64_t groups_of_four(int64_t n) { return (n + 3) / 4; }

constexpr int kFourThreads = 256;

// A grid for a grid-stride loop over `groups` groups: enough blocks to fill
// the GPU several times over, capped so that huge tensors loop instead.
inline int grid_for_groups(int64_t groups) {
  const int64_t blocks = (groups + kFourThreads - 1) / kFourThreads;
  constexpr int64_t kMaxBlocks = 132 * 32;  // H100: 132 SMs, 8 resident blocks of 256 each, 4 waves
  return int(blocks < 1 ? 1 : (blocks > kMaxBlocks ? kMaxBlocks : blocks));
}

// Index of this thread's first group, and the stride of the grid-stride loop.
__device__ __forceinline__ int64_t first_group() { return blockIdx.x * int64_t(blockDim.x) + threadIdx.x; }
__device__ __forceinline__ int64_t group_stride() { return int64_t(gridDim.x) * blockDim.x; }

// How many of the group's four elements exist.
__device__ __forceinline__ int count_in_group(int64_t group, int64_t n) {
  const int64_t left = n - 4 * group;
  return left >= 4 ? 4 : int(left);
}

}  // namespace ng::kernels
