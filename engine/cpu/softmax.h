// CPU kernels for softmax and log-softmax along one dim. Tensors are
// contiguous and seen as [outer, D, inner]; the dim of size D is reduced.
#pragma once

#include "engine/tensor.h"
#include "kernels/layouts.h"

namespace ng::cpu {

// y = softmax(x) or log_softmax(x) along D, with the max subtracted first.
void softmax_forward(const kernels::SoftmaxLayout& l, const Tensor& x, const Tensor& y, bool log);

// From the forward's output y and the output gradient g:
//   softmax:     gx = y * (g - sum(g * y))
//   log_softmax: gx = g - exp(y) * sum(g)
void softmax_backward(const kernels::SoftmaxLayout& l, const Tensor& g, const Tensor& y, const Tensor& gx, bool log);

}  // namespace ng::cpu
