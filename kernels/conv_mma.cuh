// The tensor-core tile product of the convolution GEMMs (kernels/conv.cu):
// the same shared-memory panels as the SIMT product of kernels/conv_tile.cuh,
//   As[k][m] (k < kBK = 8, m < BM)   Bs[k][n] (k < kBK, n < BN),
// multiplied by mma.sync m16n8k8 in tf32 with fp32 accumulation: one panel is
// exactly one mma k-step. The gathers, the pipeline and the padding zeros are
// the SIMT kernel's; only the product and the epilogue's fragment map differ.
//
// Rounding: each panel element is rounded to tf32 (cvt.rna: 10 fraction
// bits, relative error <= 2^-11) as its fragment is loaded; products are
// exact in fp32 and summed in fp32 in the tensor core's order. The error
// against the exact convolution is therefore at most about
//   (2 * 2^-11 + K * 2^-24) * sum_k |A[m, k] B[k, n]|
// for a reduction of length K (tests/cuda/test_cuda_conv.cpp checks this bound
// against a float64 reference).
//
// Warps: 256 threads = 8 warps as 2 (M) x 4 (N); a warp owns a
// (BM / 2) x (BN / 4) tile = MT x NT mma tiles of 16 x 8, 4 accumulators each.
// panel_step picks this product or the SIMT one by the tile type. Device
// code: include from .cu only.
#pragma once

#include <cstdint>

#include "kernels/conv_tile.cuh"
#include "kernels/mma.cuh"

namespace ng::kernels::conv_mma {

using conv_tile::kBK;
using conv_tile::kThreads;
static_assert(kBK == 8, "one panel is one m16n8k8 step");
static_assert(kThreads == 256, "8 warps");

template <int BM_, int BN_>
struct MmaTile {
  static constexpr int BM = BM_, BN = BN_;
  static constexpr bool kMma = true;
  // Panel rows padded to 8 (mod 32) floats: a fragment load reads word
  // t * ld + g, and 8t + g hits 32 distinct banks.
  static constexpr int kPad = 8;
  static constexpr int WarpM = BM / 2, WarpN = BN / 4;
  static constexpr int MT = WarpM / 16, NT = WarpN / 8;
  static constexpr int kMinBlocks = MT * NT > 8 ? 1 : 2;  // 64 accumulators need about 128 registers
  using Acc = float[MT][NT][4];
  static_assert(MT >= 1 && NT >= 1 && MT * 16 == WarpM && NT * 8 == WarpN, "whole mma tiles per warp");
};

// acc += As^T Bs over one panel pair (8 reduction steps), in tf32.
template <class TileT>
__device__ __forceinline__ void panel_product(const float (*As)[TileT::BM + TileT::kPad],
                                              const float (*Bs)[TileT::BN + TileT::kPad], int warp, int lane,
                                              typename TileT::Acc& acc) {
  const int g = lane / 4, t = lane % 4;
  const int row0 = (warp / 4) * TileT::WarpM, col0 = (warp % 4) * TileT::WarpN;
  uint32_t b[TileT::NT][2];
#pragma unroll
  for (int j = 0; j < TileT::NT; ++j) {
    const int n = col0 + 8 * j + g;
    b[j][0] = to_tf32(Bs[t][n]);
    b[j][1] = to_tf32(Bs[t + 4][n]);
  }
#pragma unroll
  for (int i = 0; i < TileT::MT; ++i) {
    const int m = row0 + 16 * i + g;
    const uint32_t a[4] = {to_tf32(As[t][m]), to_tf32(As[t][m + 8]), to_tf32(As[t + 4][m]), to_tf32(As[t + 4][m + 8])};
#pragma unroll
    for (int j = 0; j < TileT::NT; ++j) mma_tf32(acc[i][j], a, b[j]);
  }
}

// Where accumulator (i, j, r) of this thread lands in the block's tile:
// row (pixel) and column (channel), from the C fragment layout.
template <class TileT>
__device__ __forceinline__ int acc_row(int warp, int lane, int i, int r) {
  return (warp / 4) * TileT::WarpM + 16 * i + lane / 4 + (r >= 2 ? 8 : 0);
}
template <class TileT>
__device__ __forceinline__ int acc_col(int warp, int lane, int j, int r) {
  return (warp % 4) * TileT::WarpN + 8 * j + 2 * (lane % 4) + (r & 1);
}

// One panel pair into the accumulators, by the tile's kind: the tensor-core
// product, or the SIMT one with thread t at (t / Cols, t % Cols) of its grid.
template <class TileT>
__device__ __forceinline__ void panel_step(const float (*As)[TileT::BM + TileT::kPad],
                                           const float (*Bs)[TileT::BN + TileT::kPad], int t,
                                           typename TileT::Acc& acc) {
  if constexpr (TileT::kMma)
    panel_product<TileT>(As, Bs, t / 32, t % 32, acc);
  else
    conv_tile::tile_product<TileT>(As, Bs, t / TileT::Cols, t % TileT::Cols, acc);
}

}  // namespace ng::kernels::conv_mma
