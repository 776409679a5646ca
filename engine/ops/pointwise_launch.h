// Allocation and device dispatch shared by the pointwise op families
// (elementwise.cpp, activation.cpp): each op there is "launch, then record".
#pragma once

#include "engine/tensor.h"
#include "kernels/pointwise.h"

namespace ng {

// out = op(a; p0, p1), a fresh tensor of a's shape.
Tensor launch_unary(kernels::Unary op, const Tensor& a, double p0 = 0, double p1 = 0);
// out = op(a, b), broadcast; `name` is the op for error messages.
Tensor launch_binary(const char* name, kernels::Binary op, const Tensor& a, const Tensor& b);

}  // namespace ng
