// CPU matrix products through OpenBLAS (CBLAS sgemm / dgemm).
//
// BLAS reads a matrix given a pointer, a "leading dimension" (the stride
// between rows, row-major) and a transpose flag, so any 2-D view with a unit
// stride in one of its two dims can be handed over as it is: a row-major
// matrix as NoTrans, a transposed view such as w.t() as Trans. Only a matrix
// with no unit stride at all needs a copy first (see blas_compatible).
#pragma once

#include "engine/tensor.h"

namespace ng::cpu {

// True when the last two dims of t (a matrix, or a batch of them) can be
// passed to BLAS without a copy: a unit stride in one of the two dims and a
// leading dimension large enough for the other.
bool blas_compatible(const Tensor& t);

// out[..., M, N] = a[..., M, K] @ b[..., K, N] + beta * out[..., M, N].
// a, b and out have the same batch dims (a and b may be broadcast views with
// stride 0 there); a and b must be blas_compatible; out's last dim must have
// unit stride. With beta == 0 out is only written, never read.
void gemm(const Tensor& out, const Tensor& a, const Tensor& b, double beta = 0.0);

}  // namespace ng::cpu
