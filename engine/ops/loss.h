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

// The negative log-likelihood of class targets, PyTorch's F.nll_loss:
// log_probs [N, C] (or [N, C, d1, ...], or [C]), target the class of each
// row as an index tensor (engine/ops/index.h) of log_probs' shape without
// dim 1. Each entry contributes -weight[t] * log_probs[n, t]; `weight` [C]
// is optional (all ones) and not differentiated. Entries equal to
// ignore_index contribute nothing; `mean` divides by the summed weight of
// the entries counted (NaN when none is). Differentiable in log_probs.
Tensor nll_loss(const Tensor& log_probs, const Tensor& target, Reduction r = Reduction::mean,
                const Tensor& weight = {}, int64_t ignore_index = -100);
// F.cross_entropy: nll_loss of log_softmax(logits) along dim 1 for class
// targets. A target of the logits' own shape holds class probabilities
// instead: each entry contributes -sum_c weight[c] target[n, c] log_softmax
// (ignore_index does not apply, `mean` divides by the number of entries).
// Differentiable in logits (and in probability targets).
Tensor cross_entropy(const Tensor& logits, const Tensor& target, Reduction r = Reduction::mean,
                     const Tensor& weight = {}, int64_t ignore_index = -100);

// Applies a Reduction to an elementwise loss.
Tensor reduce_loss(const Tensor& elementwise, Reduction r);

}  // namespace ng
