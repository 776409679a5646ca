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
#include "kernels/fused_math.h"

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

// The same with t on x0's device, as a training step draws it
// (models::Diffusion::sample_timesteps): each sample's coefficients are
// gathered from `table` there, so nothing is copied back and the host never
// waits. `table` is q_sample_table(alpha_bar, x0's dtype, x0's device), made
// once. The steps are not checked (that is the wait this avoids); a wrong
// one is mapped into the table rather than read from outside it (NaN to 1,
// a step outside 1..T clamped, a fraction truncated). For valid steps both
// overloads give the same bits.
NoisedSample q_sample(const Tensor& x0, const Tensor& t, const Tensor& table, Generator& gen);
// Row t - 1 holds (sqrt(abar_t), sqrt(1 - abar_t)), computed in float64 and
// rounded once to `dtype`: the per-sample coefficients of q_sample, [T, 2].
Tensor q_sample_table(const std::vector<double>& alpha_bar, DType dtype, Device device);

// One reverse step t -> t_prev of the ancestral or the DDIM sampler in one
// pass, the formulas of kernels/fused_math.h with coefficients from the
// model's schedule (Diffusion::p_sample_coefficients, ddim_coefficients in
// models/diffusion.h, which also writes each step with composite ops). When
// c.sigma > 0, z ~ N(0, I) is drawn from gen in the pass (the numbers
// randn(x_t.shape(), gen) would give); otherwise nothing is drawn.
// Differentiable w.r.t. x_t and eps_pred (through the clamp, its mask).
Tensor p_sample(const Tensor& x_t, const Tensor& eps_pred, const kernels::PSampleCoefficients<double>& c,
                Generator& gen);
Tensor ddim_step(const Tensor& x_t, const Tensor& eps_pred, const kernels::DDIMCoefficients<double>& c,
                 Generator& gen);

}  // namespace ng
