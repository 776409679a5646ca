// Activation functions, differentiable to every order: each backward is
// written with differentiable ops (gradient penalties need second
// derivatives). silu alone also has a fused derivative kernel, which its
// backward uses when no graph is being built.
#pragma once

#include "engine/tensor.h"

namespace ng {

Tensor relu(const Tensor& x);
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01);
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor silu(const Tensor& x);         // x * sigmoid(x)
Tensor softplus(const Tensor& x);     // log(1 + e^x), stable for large |x|
Tensor log_sigmoid(const Tensor& x);  // -softplus(-x), stable

}  // namespace ng
