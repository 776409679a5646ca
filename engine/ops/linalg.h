// Matrix products, differentiable. The CPU backend calls OpenBLAS's GEMM,
// passing transposed operands as transposes rather than copying them.
#pragma once

#include "engine/tensor.h"

namespace ng {

// torch.matmul semantics: [M,K]@[K,N]; 1-D operands are promoted (and the
// added dim removed again); leading batch dims broadcast.
Tensor matmul(const Tensor& a, const Tensor& b);
// [B,M,K] @ [B,K,N] -> [B,M,N], no broadcasting.
Tensor bmm(const Tensor& a, const Tensor& b);
// x[..., in] @ w[out, in]^T + b[out]; b may be undefined.
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b = {});

}  // namespace ng
