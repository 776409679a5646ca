// Warp- and block-level reductions on register shuffles, shared by the
// reduce, softmax and norm kernels (device code: include from .cu files only).
//
// Every function merges values in a fixed pattern that depends only on the
// lane and warp numbers, never on timing, so results are reproducible bit
// for bit. Every lane of a warp must call them (full mask): a lane with
// nothing to contribute passes the merge's identity.
#pragma once

#include <cstdint>

namespace ng::kernels {

constexpr unsigned kFullMask = 0xffffffffu;

__device__ __forceinline__ float shfl_down(float v, int offset) { return __shfl_down_sync(kFullMask, v, offset); }
__device__ __forceinline__ double shfl_down(double v, int offset) { return __shfl_down_sync(kFullMask, v, offset); }
__device__ __forceinline__ long long shfl_down(long long v, int offset) {
  return __shfl_down_sync(kFullMask, v, offset);
}
__device__ __forceinline__ float shfl_xor(float v, int mask) { return __shfl_xor_sync(kFullMask, v, mask); }
__device__ __forceinline__ double shfl_xor(double v, int mask) { return __shfl_xor_sync(kFullMask, v, mask); }

// A tree down the warp: after step `offset`, lane i holds the merge of lanes
// [i, i + 2*offset). Lane 0 ends with merge(v0, v1, ..., v31); the other
// lanes hold partial results.
template <class V, class Merge>
__device__ __forceinline__ V warp_reduce(V v, Merge merge) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v = merge(v, shfl_down(v, offset));
  return v;
}

// A butterfly: every lane ends with the merge of all 32 values. With a
// commutative merge (a + b == b + a bit for bit, as for IEEE adds; max and
// min too, but for the sign of a zero), both partners of each exchange
// compute the same bits, so all lanes agree exactly.
template <class V, class Merge>
__device__ __forceinline__ V warp_allreduce(V v, Merge merge) {
#pragma unroll
  for (int mask = 16; mask > 0; mask >>= 1) v = merge(v, shfl_xor(v, mask));
  return v;
}

// A block of blockDim.x threads (a multiple of 32): each warp reduces its
// values, warp results meet in `smem` (room for 32 values), and warp 0
// reduces those in warp order. Thread 0 ends with the block's result. Ends
// with a barrier, so `smem` may be reused at once.
template <class V, class Merge>
__device__ __forceinline__ V block_reduce(V v, V* smem, V identity, Merge merge) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warp_reduce(v, merge);
  if (lane == 0) smem[warp] = v;
  __syncthreads();
  if (warp == 0) v = warp_reduce(lane < warps ? smem[lane] : identity, merge);
  __syncthreads();
  return v;
}

// As block_reduce, but every thread gets the result: each thread merges the
// warp results itself, all in the same order, so all hold the same bits.
template <class V, class Merge>
__device__ __forceinline__ V block_allreduce(V v, V* smem, Merge merge) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warp_allreduce(v, merge);
  if (lane == 0) smem[warp] = v;
  __syncthreads();
  v = smem[0];
  for (int w = 1; w < warps; ++w) v = merge(v, smem[w]);
  __syncthreads();
  return v;
}

}  // namespace ng::kernels
