// The register-blocked tile product shared by the convolution GEMMs
// (kernels/conv.cu, kernels/conv_wgrad.cu). Device code: include from .cu only.
//
// A block of 256 threads computes a BM x BN tile of C = A B, kBK reduction
// steps at a time, from shared-memory panels filled by the caller:
//   As[k][m] (k < kBK, m < BM)   Bs[k][n] (k < kBK, n < BN)
// each row padded by kPad floats (conflict-free stores for the loaders'
// layouts; rows stay 16-byte aligned for vector loads).
//
// The threads form a Rows x Cols grid (Cols = BN/TN, Rows = 256/Cols),
// (ty, tx) = (t / Cols, t % Cols), and thread (ty, tx) owns TM rows and TN
// columns of the tile, TM and TN in {1, 2, 4, 8}:
//   TM = 8: rows 4ty..4ty+3 and BM/2+4ty..BM/2+4ty+3 (two float4 loads a step)
//   TM = 4: rows 4ty..4ty+3 (one float4)   TM = 2: one float2   TM = 1: one float
// and columns likewise from tx. The square tiles use a 16 x 16 grid: a warp
// spans two ty and all 16 tx, so its A loads are two broadcast addresses and
// its B loads 256 contiguous bytes, without bank conflicts. Thin tiles (BN of
// 4 or 16 for layers with one or a few channels) give the columns fewer
// threads and the rows more, so few multiply-adds go to padding columns.
// Every accumulator sums its products in k order, so the result does not
// depend on the tile shape.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/conv.h"
#include "kernels/pointwise.h"

namespace ng::kernels::conv_tile {

constexpr int kThreads = 256;
constexpr int kBK = 8;      // reduction steps per shared-memory panel
constexpr int kPad = 4;     // floats of padding per panel row
constexpr int kStages = 3;  // shared-memory panels in flight: one computed, two loading

// The shape of a block's tile and of each thread's share of it.
template <int BM_, int BN_, int TM_, int TN_>
struct Tile {
  static constexpr int BM = BM_, BN = BN_, TM = TM_, TN = TN_;
  static constexpr int Cols = BN / TN, Rows = kThreads / Cols;
  static constexpr bool kMma = false;  // the fp32 FMA product (kernels/conv_mma.cuh: the tensor-core one)
  static constexpr int kPad = conv_tile::kPad;
  // Blocks a multiprocessor should hold: two, except with 8 x 8 outputs a
  // thread, whose 64 accumulators and fragments need about 150 registers
  // (capping them at 128 for two blocks spills).
  static constexpr int kMinBlocks = TM * TN > 32 ? 1 : 2;
  using Acc = float[TM][TN];
  static_assert(Rows * Cols == kThreads && Rows * TM == BM, "a tile's thread grid has 256 threads");
  static_assert((TM == 1 || TM == 2 || TM == 4 || TM == 8) && (TN == 1 || TN == 2 || TN == 4 || TN == 8),
                "a thread owns 1, 2, 4 or 8 rows and columns");
};

// Index within the tile (of size B) of the i-th row or column that thread
// coordinate `t` owns, T a thread.
template <int B, int T>
__device__ __forceinline__ int owned(int t, int i) {
  if constexpr (T == 8) return i < 4 ? 4 * t + i : B / 2 + 4 * t + (i - 4);
  else return T * t + i;
}

template <int B, int T>
__device__ __forceinline__ void load_fragment(const float* row, int t, float (&f)[T]) {
  if constexpr (T == 8) {
    const float4 lo = *reinterpret_cast<const float4*>(row + 4 * t);
    const float4 hi = *reinterpret_cast<const float4*>(row + B / 2 + 4 * t);
    f[0] = lo.x, f[1] = lo.y, f[2] = lo.z, f[3] = lo.w;
    f[4] = hi.x, f[5] = hi.y, f[6] = hi.z, f[7] = hi.w;
  } else if constexpr (T == 4) {
    const float4 v = *reinterpret_cast<const float4*>(row + 4 * t);
    f[0] = v.x, f[1] = v.y, f[2] = v.z, f[3] = v.w;
  } else if constexpr (T == 2) {
    const float2 v = *reinterpret_cast<const float2*>(row + 2 * t);
    f[0] = v.x, f[1] = v.y;
  } else {
    f[0] = row[t];
  }
}

// acc += As^T Bs over the kBK steps of one panel pair.
template <class TileT>
__device__ __forceinline__ void tile_product(const float (*As)[TileT::BM + kPad], const float (*Bs)[TileT::BN + kPad],
                                             int ty, int tx, float (&acc)[TileT::TM][TileT::TN]) {
  constexpr int BM = TileT::BM, BN = TileT::BN, TM = TileT::TM, TN = TileT::TN;
#pragma unroll
  for (int k = 0; k < kBK; ++k) {
    float a[TM], b[TN];
    load_fragment<BM, TM>(As[k], ty, a);
    load_fragment<BN, TN>(Bs[k], tx, b);
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
      for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
  }
}

// ---- asynchronous global -> shared copies (cp.async, sm_80+) ----------------
// The gathers copy element by element straight into shared memory, without
// staging in registers; a copy whose element lies outside the image (the
// padding) or the matrix writes a zero instead (src-size 0 reads nothing;
// `fallback` is a valid address all the same).

__device__ __forceinline__ void copy_or_zero(float* dst, const float* src, const float* fallback, bool valid) {
  const unsigned d = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(d), "l"(valid ? src : fallback),
               "r"(valid ? 4 : 0)
               : "memory");
}

// Closes the group of copies issued since the last commit (empty groups are fine).
__device__ __forceinline__ void commit_copies() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }

// Waits until at most `pending` of this thread's groups are still in flight.
template <int pending>
__device__ __forceinline__ void wait_copies() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(pending) : "memory");
}

// A mixed-radix counter over a reduction index k = (c * Ka + a) * Kb + b,
// advanced kBK at a time without divisions (one carry per digit: each digit
// of the step is smaller than its radix).
struct Digits {
  int c, a, b;
};

__device__ __forceinline__ Digits digits_of(int k, int Ka, int Kb) {
  const int c = k / (Ka * Kb), r = k - c * (Ka * Kb);
  return {c, r / Kb, r % Kb};
}

__device__ __forceinline__ void advance(Digits& d, const Digits& step, int Ka, int Kb) {
  d.b += step.b;
  int carry = d.b >= Kb;
  d.b -= carry ? Kb : 0;
  d.a += step.a + carry;
  carry = d.a >= Ka;
  d.a -= carry ? Ka : 0;
  d.c += step.c + carry;
}

// The forward epilogue's activation, with the math of kernels/pointwise.h.
template <class T>
__device__ __forceinline__ T activate(T v, const ConvEpilogue& ep) {
  switch (ep.act) {
    case ConvActivation::relu: return unary_fn<Unary::relu, T>(v, T(0), T(0));
    case ConvActivation::leaky_relu: return unary_fn<Unary::leaky_relu, T>(v, T(ep.slope), T(0));
    case ConvActivation::silu: return unary_fn<Unary::silu, T>(v, T(0), T(0));
    default: return v;
  }
}

inline int ceil_div(int64_t a, int64_t b) { return int((a + b - 1) / b); }

}  // namespace ng::kernels::conv_tile
