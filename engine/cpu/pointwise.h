// CPU implementations of the pointwise kernels named in kernels/pointwise.h.
// `out` is allocated by the caller with the broadcast shape.
#pragma once

#include "engine/tensor.h"
#include "kernels/pointwise.h"

namespace ng::cpu {

void unary(kernels::Unary op, const Tensor& out, const Tensor& a, double p0 = 0, double p1 = 0);
void binary(kernels::Binary op, const Tensor& out, const Tensor& a, const Tensor& b);
void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b);

// y[i] = op(x[i]) for i < n on this thread, for tanh and the logistic family
// (sigmoid, silu, silu_grad, softplus, log_sigmoid), with the bits unary()
// gives each element. For kernels that fuse such an op into their own
// (parallel) loops, a row at a time; y may be x.
void transcendental_span(kernels::Unary op, float* y, const float* x, int64_t n);
void transcendental_span(kernels::Unary op, double* y, const double* x, int64_t n);

}  // namespace ng::cpu
