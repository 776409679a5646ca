// The per-element formulas of the fused model kernels, written once for the
// CPU twins (engine/cpu/fused.cpp) and the CUDA kernels (kernels/fused.cu).
//
// Every formula is evaluated in the tensor's dtype T, each operation rounded
// on its own (kernels/rn_math.h), so the two backends differ only where a
// math function (exp) or a drawn normal differs by an ulp. The scalars of a
// diffusion step are computed on the host in float64 and rounded once to T.
//
// Diffusion conventions (Ho et al. 2020, "Denoising Diffusion Probabilistic
// Models"; Song et al. 2021, "Denoising Diffusion Implicit Models"): steps
// run t = 1 .. T, abar_t = prod_{s <= t} (1 - beta_s), abar_0 = 1.
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/hd.h"
#include "kernels/rn_math.h"

namespace ng::kernels {

// ---- the VAE's reparameterised sample ----------------------------------------------

// z = mu + exp(logvar / 2) * eps, in the composite's order
// (mu + exp(logvar * 0.5) * eps), so that on the CPU the two agree bit for bit.
template <class T>
NG_HD T reparam_z(T mu, T logvar, T eps) {
  using std::exp;
  return add_rn(mu, mul_rn(exp(mul_rn(logvar, T(0.5))), eps));
}

// d z / d logvar times the incoming gradient g: g * eps * exp(logvar / 2) / 2,
// multiplied in the order of the formula: ((g eps) e) / 2. It equals
// g (z - mu) / 2, but does not subtract two nearby numbers: with |mu| much
// larger than sigma = exp(logvar / 2), z - mu keeps few correct bits.
template <class T>
NG_HD T reparam_dlogvar(T g, T logvar, T eps) {
  using std::exp;
  return mul_rn(mul_rn(mul_rn(g, eps), exp(mul_rn(logvar, T(0.5)))), T(0.5));
}

// ---- diffusion: forward noising -------------------------------------------------------

// q(x_t | x_0): x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps. The two
// coefficients come per sample, precomputed in float64 (see below).
template <class T>
NG_HD T q_sample_value(T x0, T eps, T sqrt_alpha_bar, T sqrt_one_minus_alpha_bar) {
  return add_rn(mul_rn(sqrt_alpha_bar, x0), mul_rn(sqrt_one_minus_alpha_bar, eps));
}

// The coefficients of q_sample at a step whose alpha_bar is `alpha_bar`.
struct QSampleCoefficients {
  double sqrt_alpha_bar, sqrt_one_minus_alpha_bar;
};
inline QSampleCoefficients q_sample_coefficients(double alpha_bar) {
  return {std::sqrt(alpha_bar), std::sqrt(1.0 - alpha_bar)};
}

// ---- diffusion: one reverse step t -> t_prev of a sampler ---------------------------------
//
// The coefficients come from the model's schedule (models/diffusion.cpp
// computes them in float64 for any jump t -> t_prev, respaced chains
// included) and are rounded once to T. Both samplers first estimate the clean
// image from the predicted noise,
//   x0_hat = x_t * x0_from_xt - eps_pred * x0_from_eps       (1/sqrt(abar_t), sqrt(1/abar_t - 1))
// clamped to the data range [-1, 1] when clip, and end with + z * sigma when
// they draw noise. The operations run in the order of the composite ops that
// models/diffusion.cpp writes the same step with, so that on the CPU a fused
// step and its composite agree bit for bit.

// Clamps to [-1, 1]; NaN passes through, as ng::clamp lets it.
template <class T>
NG_HD T clamp_unit(T x) {
  return x < T(-1) ? T(-1) : (x > T(1) ? T(1) : x);
}

template <class T>
NG_HD T predicted_x0(T x_t, T eps_pred, T x0_from_xt, T x0_from_eps, bool clip) {
  const T x0 = sub_rn(mul_rn(x_t, x0_from_xt), mul_rn(eps_pred, x0_from_eps));
  return clip ? clamp_unit(x0) : x0;
}

template <class T>
NG_HD T plus_noise(T x, T z, T sigma, bool noise) {
  return noise ? add_rn(x, mul_rn(z, sigma)) : x;
}

// Ancestral (DDPM, Algorithm 2, with x0_hat made explicit):
//   x_prev = x0_hat * mean_x0 + x_t * mean_xt + z * sigma
// mean_x0, mean_xt: the posterior mean's weights of q(x_prev | x_t, x0).
template <class S>
struct PSampleCoefficients {
  S x0_from_xt, x0_from_eps, mean_x0, mean_xt, sigma;
  bool clip;
  template <class T>
  NG_HD PSampleCoefficients<T> to() const {
    return {T(x0_from_xt), T(x0_from_eps), T(mean_x0), T(mean_xt), T(sigma), clip};
  }
};

template <class T>
NG_HD T p_sample_value(T x_t, T eps_pred, T z, const PSampleCoefficients<T>& c, bool noise) {
  const T x0 = predicted_x0(x_t, eps_pred, c.x0_from_xt, c.x0_from_eps, c.clip);
  return plus_noise(add_rn(mul_rn(x0, c.mean_x0), mul_rn(x_t, c.mean_xt)), z, c.sigma, noise);
}

// DDIM (Song et al. 2021, eq. 12). With clip the noise is re-derived from the
// clamped x0_hat, so that the step stays on the line through x_t and x0_hat:
//   eps_hat = clip ? (x_t - x0_hat * sqrt_alpha_bar) * inv_sqrt_one_minus_alpha_bar : eps_pred
//   x_prev  = x0_hat * sqrt_alpha_bar_prev + eps_hat * direction + z * sigma
// direction = sqrt(1 - abar_prev - sigma^2).
template <class S>
struct DDIMCoefficients {
  S x0_from_xt, x0_from_eps, sqrt_alpha_bar, inv_sqrt_one_minus_alpha_bar, sqrt_alpha_bar_prev, direction, sigma;
  bool clip;
  template <class T>
  NG_HD DDIMCoefficients<T> to() const {
    return {T(x0_from_xt),          T(x0_from_eps), T(sqrt_alpha_bar), T(inv_sqrt_one_minus_alpha_bar),
            T(sqrt_alpha_bar_prev), T(direction),   T(sigma),          clip};
  }
};

template <class T>
NG_HD T ddim_value(T x_t, T eps_pred, T z, const DDIMCoefficients<T>& c, bool noise) {
  const T x0 = predicted_x0(x_t, eps_pred, c.x0_from_xt, c.x0_from_eps, c.clip);
  const T eps = c.clip ? mul_rn(sub_rn(x_t, mul_rn(x0, c.sqrt_alpha_bar)), c.inv_sqrt_one_minus_alpha_bar) : eps_pred;
  return plus_noise(add_rn(mul_rn(x0, c.sqrt_alpha_bar_prev), mul_rn(eps, c.direction)), z, c.sigma, noise);
}

}  // namespace ng::kernels
