// Reductions over all elements or over chosen dims, differentiable.
#pragma once

#include <vector>

#include "engine/tensor.h"

namespace ng {

Tensor sum(const Tensor& x);  // all elements -> shape []
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);
// Largest / smallest values; the gradient is shared evenly between ties.
Tensor max(const Tensor& x);
Tensor max(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);
Tensor min(const Tensor& x);
Tensor min(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);

// Statistics built from the reductions above, so that they run on every
// device and differentiate to every order. As in PyTorch: `correction` 1 is
// the unbiased (Bessel) variance, 0 the population one; std's gradient on a
// constant slice is 0.
Tensor var(const Tensor& x, const std::vector<int64_t>& dims = {}, int64_t correction = 1, bool keepdim = false);
Tensor std(const Tensor& x, const std::vector<int64_t>& dims = {}, int64_t correction = 1, bool keepdim = false);
// log(sum(exp(x))) without overflow; -inf where every term is -inf.
Tensor logsumexp(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
// (sum |x|^ord)^(1/ord) for ord >= 1, max |x| for ord = inf. The gradient
// at x = 0 is 0, as in PyTorch, not the composite's 0 * inf.
Tensor vector_norm(const Tensor& x, double ord = 2.0, const std::vector<int64_t>& dims = {}, bool keepdim = false);

}  // namespace ng
