// CPU implementations of the pointwise kernels named in kernels/pointwise.h.
// `out` is allocated by the caller with the broadcast shape.
#pragma once

#include "engine/tensor.h"
#include "kernels/pointwise.h"

namespace ng::cpu {

void unary(kernels::Unary op, const Tensor& out, const Tensor& a, double p0 = 0, double p1 = 0);
void binary(kernels::Binary op, const Tensor& out, const Tensor& a, const Tensor& b);
void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b);

}  // namespace ng::cpu
