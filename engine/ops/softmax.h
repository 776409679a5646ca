// Softmax and log-softmax along one dim, stable (max subtracted), differentiable.
#pragma once

#include "engine/tensor.h"

namespace ng {

Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);

}  // namespace ng
