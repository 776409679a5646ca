// Softmax and log-softmax along one dim, stable (max subtracted), differentiable.
#pragma once

#include "engine/tensor.h"

namespace ng {

Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);

// Their backward as an op of its own (so that it is differentiable again):
// from the output y and its gradient g, the gradient of the input,
//   softmax:     y * (g - sum(g * y)),   log_softmax: g - exp(y) * sum(g)
// along dim.
Tensor softmax_backward(const Tensor& g, const Tensor& y, int64_t dim, bool log);

}  // namespace ng
