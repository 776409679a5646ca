// Fused model ops: one pass over memory where the composite of elementwise
// ops makes several, with any noise drawn in that same pass. Each draws the
// numbers randn(shape, gen) would (kernels/philox.h layout) and advances the
// generator as much, so a fused op and its composite twin agree.
//
// Diffusion conventions (Ho et al. 2020; Song et al. 2021), as in
// models/diffusion.h: steps run t = 1 .. T; a schedule is given by its
// cumulative products abar_t = prod_{s <= t} (1 - beta_s) as a float64 host
// vector whose entry t - 1 holds abar_t (abar_0 = 1 is implied).
#pragma once

#include <cstdint>
#include <vector>

#include "engine/ops/random.h"
#include "engine/tensor.h"

namespace ng {

// ---- the VAE's reparameterised sample ----------------------------------------------

// z = mu + exp(logvar / 2) * eps in one pass (the composite takes five ops),
// differentiable w.r.t. mu, logvar and eps. Bit for bit the composite
// mu + exp(logvar * 0.5) * eps on the CPU, gradients included.
Tensor sample_gaussian(const Tensor& mu, const Tensor& logvar, const Tensor& eps);

// The same with eps ~ N(0, I) drawn in the pass and returned.
struct GaussianSample {
  Tensor z, eps;
};
GaussianSample sample_gaussian(const Tensor& mu, const Tensor& logvar, Generator& gen);

// ---- diffusion -------------------------------------------------------------------------

// The schedule alpha_bar = abar_1 .. abar_T is the caller's: the model's
// (models/diffusion.h, Diffusion::alpha_bars) is the one nanogen trains with.

// The forward process q(x_t | x_0) at a per-sample step:
//   x_t = sqrt(abar_{t_i}) x0 + sqrt(1 - abar_{t_i}) eps,  eps ~ N(0, I)
// x0 is [N, ...]; t holds N integral steps in 1..T (any float dtype, on the
// CPU, where it is checked and turned into coefficients for free, or on x0's
// device, which costs a copy back and a wait). Differentiable w.r.t. x0.
struct NoisedSample {
  Tensor x_t, eps;
};
NoisedSample q_sample(const Tensor& x0, const Tensor& t, const std::vector<double>& alpha_bar, Generator& gen);

// One ancestral step of DDPM (Algorithm 2) from step t to t - 1:
//   x_prev = (x_t - beta_t / sqrt(1 - abar_t) eps_pred) / sqrt(alpha_t) + sigma_t z
// with alpha_t = abar_t / abar_{t-1}, beta_t = 1 - alpha_t, and sigma_t^2 =
// beta_t, or the posterior's beta_t (1 - abar_{t-1}) / (1 - abar_t) when
// posterior_variance. At t = 1 z = 0 and nothing is drawn. This is the
// unclipped step (x0_hat is not clamped to the data range).
// Differentiable w.r.t. x_t and eps_pred.
Tensor p_sample(const Tensor& x_t, const Tensor& eps_pred, const std::vector<double>& alpha_bar, int64_t t,
                Generator& gen, bool posterior_variance = false);

// One DDIM step from a step with abar_t to one with abar_prev (1 for the last):
//   x0_pred = (x_t - sqrt(1 - abar_t) eps_pred) / sqrt(abar_t)
//   x_prev  = sqrt(abar_prev) x0_pred + sqrt(1 - abar_prev - sigma^2) eps_pred + sigma z
// z is drawn only when sigma > 0 (sigma = 0 is deterministic DDIM).
// Differentiable w.r.t. x_t and eps_pred.
Tensor ddim_step(const Tensor& x_t, const Tensor& eps_pred, double alpha_bar_t, double alpha_bar_prev, double sigma,
                 Generator& gen);
// DDIM's sigma for a given eta (0: deterministic; 1: DDPM's posterior):
// eta sqrt((1 - abar_prev) / (1 - abar_t)) sqrt(1 - abar_t / abar_prev).
double ddim_sigma(double alpha_bar_t, double alpha_bar_prev, double eta);

}  // namespace ng
