// 3x3 convolutions with stride 1 and padding 1 (the U-Net's whole body) by
// Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray 2016): a 2x2 block
// of outputs costs 16 multiplications per input channel instead of 36.
//   U = G g G^T (each filter),  V = B^T d B (each 4x4 input tile),
//   M_xi = sum_c U_xi[k, c] V_xi[c, tile] (16 matrix products, engine/cpu/blas.h),
//   y = A^T M A (each 2x2 output block)
// The transforms' coefficients are 0, +-1 and 1/2, so little accuracy is
// lost (tests/cpu/test_winograd.cpp bounds it against a direct convolution).
#pragma once

#include <cstdint>

namespace ng::cpu {

// How the work is cut. The forward goes through the tiles in blocks: one
// thread transforms a block's inputs, runs its 16 products and transforms
// their outputs while the block's V (16 x C x columns) and M (16 x K x
// columns) stay in its caches, so that OpenBLAS's kernel runs near its
// in-cache rate instead of streaming V and M from memory. The weight
// gradient sums over the tiles, so its products want the tiles as their long
// reduction: it goes through chunks of tiles whose V and dM hold about
// chunk_elements, the 16 products of a chunk shared over the threads.
// (Measured on 2 cores, the U-Net's layers, docs/benchmarks.md: blocks of
// 2^19 beat 2^16, 2^17, 2^18 and 2^20; chunks of 2^21 beat 2^19 and 2^20
// and tied 2^22.) Tests shrink both to reach every boundary on small shapes.
struct WinogradBlocking {
  int64_t block_elements = int64_t(1) << 19;
  int64_t chunk_elements = int64_t(1) << 21;
};

// y [N,K,H,W] = conv2d(x [N,C,H,W], w [K,C,3,3], stride 1, padding 1) + bias [K]
// (bias may be null). All contiguous. The bits depend on the shapes alone.
template <class T>
void winograd_conv3x3(const T* x, const T* w, const T* bias, T* y, int64_t N, int64_t C, int64_t K, int64_t H,
                      int64_t W, const WinogradBlocking& cut = {});

// dw [K,C,3,3] = the gradient of sum(dy * conv2d(x, w)) by w, for x [N,C,H,W]
// and dy [N,K,H,W], through the same transforms run backwards:
//   dM = A dY A^T (each 2x2 block of dy),  dU_xi = sum_tiles dM_xi V_xi^T,
//   dw = G^T dU G.
// All contiguous; dw is overwritten. The bits depend on the shapes alone.
template <class T>
void winograd_conv3x3_weight_grad(const T* x, const T* dy, T* dw, int64_t N, int64_t C, int64_t K, int64_t H,
                                  int64_t W, const WinogradBlocking& cut = {});

}  // namespace ng::cpu
