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

// ---- diffusion: one reverse ancestral step (DDPM, Algorithm 2) ----------------------

// x_{t-1} = (1 / sqrt(alpha_t)) (x_t - beta_t / sqrt(1 - abar_t) eps_pred) + sigma_t z
struct PSampleCoefficients {
  double inv_sqrt_alpha;  // 1 / sqrt(alpha_t)
  double eps_coef;        // beta_t / sqrt(1 - abar_t)
  double sigma;           // sigma_t (0 at the last step)
};

template <class T>
NG_HD T p_sample_value(T x_t, T eps_pred, T z, T inv_sqrt_alpha, T eps_coef, T sigma) {
  return add_rn(mul_rn(inv_sqrt_alpha, sub_rn(x_t, mul_rn(eps_coef, eps_pred))), mul_rn(sigma, z));
}

// ---- diffusion: one DDIM step ------------------------------------------------------------

// x0_pred = (x_t - sqrt(1 - abar_t) eps_pred) / sqrt(abar_t)
// x_prev  = sqrt(abar_prev) x0_pred + sqrt(1 - abar_prev - sigma^2) eps_pred + sigma z
struct DDIMCoefficients {
  double sqrt_alpha_bar;            // sqrt(abar_t)
  double sqrt_one_minus_alpha_bar;  // sqrt(1 - abar_t)
  double sqrt_alpha_bar_prev;       // sqrt(abar_prev)
  double direction;                 // sqrt(1 - abar_prev - sigma^2)
  double sigma;
};

template <class T>
NG_HD T ddim_value(T x_t, T eps_pred, T z, T sqrt_alpha_bar, T sqrt_one_minus_alpha_bar, T sqrt_alpha_bar_prev,
                   T direction, T sigma) {
  const T x0_pred = div_rn(sub_rn(x_t, mul_rn(sqrt_one_minus_alpha_bar, eps_pred)), sqrt_alpha_bar);
  return add_rn(add_rn(mul_rn(sqrt_alpha_bar_prev, x0_pred), mul_rn(direction, eps_pred)), mul_rn(sigma, z));
}

}  // namespace ng::kernels
