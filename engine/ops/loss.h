// Losses and likelihood terms, differentiable, computed stably.
#pragma once

#include "engine/tensor.h"

namespace ng {

enum class Reduction { none, mean, sum };

// (pred - target)^2
Tensor mse_loss(const Tensor& pred, const Tensor& target, Reduction r = Reduction::mean);
// |pred - target|; the gradient at pred == target is 0.
Tensor l1_loss(const Tensor& pred, const Tensor& target, Reduction r = Reduction::mean);

// -[t log sigmoid(z) + (1 - t) log(1 - sigmoid(z))], computed as
// softplus(z) - t z (never log(sigmoid(z))). Differentiable in both.
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target,
                                        Reduction r = Reduction::mean);

// -log N(x; mean, var) = 0.5 (log(2 pi) + log var + (x - mean)^2 / var),
// elementwise with broadcasting; the constant is included.
Tensor gaussian_nll(const Tensor& x, const Tensor& mean, const Tensor& var, Reduction r = Reduction::mean);

// KL(N(mu, diag(exp(logvar))) || N(0, I)) = 0.5 (exp(logvar) + mu^2 - 1 - logvar),
// elementwise; Reduction::sum gives the total over all elements.
Tensor kl_normal_std_normal(const Tensor& mu, const Tensor& logvar, Reduction r = Reduction::sum);

// Applies a Reduction to an elementwise loss.
Tensor reduce_loss(const Tensor& elementwise, Reduction r);

}  // namespace ng
