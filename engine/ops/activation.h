// Activation functions, differentiable to every order: each backward is
// itself made of differentiable ops (gradient penalties need second
// derivatives). silu's is an op of its own, silu_backward, whose value is one
// derivative kernel and whose backward is again differentiable.
#pragma once

#include "engine/tensor.h"

namespace ng {

Tensor relu(const Tensor& x);
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01);
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor silu(const Tensor& x);         // x * sigmoid(x)
Tensor silu_backward(const Tensor& g, const Tensor& x);  // g * silu'(x)
Tensor softplus(const Tensor& x);     // log(1 + e^x), stable for large |x|
Tensor log_sigmoid(const Tensor& x);  // -softplus(-x), stable
Tensor gelu(const Tensor& x);         // x Phi(x), the exact (erf) form
Tensor gelu_backward(const Tensor& g, const Tensor& x);  // g * gelu'(x)
Tensor elu(const Tensor& x, double alpha = 1.0);  // x > 0 ? x : alpha (e^x - 1)

}  // namespace ng
