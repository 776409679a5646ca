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

// y [N,K,H,W] = conv2d(x [N,C,H,W], w [K,C,3,3], stride 1, padding 1) + bias [K]
// (bias may be null). All contiguous. The bits depend on the shapes alone.
template <class T>
void winograd_conv3x3(const T* x, const T* w, const T* bias, T* y, int64_t N, int64_t C, int64_t K, int64_t H,
                      int64_t W);

}  // namespace ng::cpu
