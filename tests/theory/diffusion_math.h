// The DDPM schedule and the closed forms of docs/theory.md section 4, in
// double precision, written independently of the DDPM implementation so
// that the two can be checked against each other.
//
// Steps are numbered t = 1..T as in the paper; index 0 holds t = 0, where
// abar_0 = 1 (no noise yet).
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

namespace theory {

struct DiffusionSchedule {
  int64_t T = 0;
  std::vector<double> beta;   // beta[t], beta[0] unused (0)
  std::vector<double> alpha;  // 1 - beta[t]
  std::vector<double> abar;   // prod_{s <= t} alpha[s]; abar[0] = 1

  // q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I)
  double marginal_mean_coef(int64_t t) const { return std::sqrt(abar[t]); }
  double marginal_variance(int64_t t) const { return 1.0 - abar[t]; }

  // q(x_{t-1} | x_t, x_0) = N(c0 x_0 + ct x_t, beta_tilde_t), for t >= 1.
  double posterior_x0_coef(int64_t t) const {
    return std::sqrt(abar[t - 1]) * beta[t] / (1.0 - abar[t]);
  }
  double posterior_xt_coef(int64_t t) const {
    return std::sqrt(alpha[t]) * (1.0 - abar[t - 1]) / (1.0 - abar[t]);
  }
  double posterior_variance(int64_t t) const {
    return (1.0 - abar[t - 1]) / (1.0 - abar[t]) * beta[t];
  }
  // The same mean with x_0 written through the noise:
  // (x_t - beta_t / sqrt(1 - abar_t) eps) / sqrt(alpha_t).
  double eps_mean_xt_coef(int64_t t) const { return 1.0 / std::sqrt(alpha[t]); }
  double eps_mean_eps_coef(int64_t t) const {
    return -beta[t] / (std::sqrt(alpha[t]) * std::sqrt(1.0 - abar[t]));
  }
  // The weight of ||eps - eps_theta||^2 in L_{t-1} when p_theta has variance sigma2.
  double lt_weight(int64_t t, double sigma2) const {
    return beta[t] * beta[t] / (2.0 * sigma2 * alpha[t] * (1.0 - abar[t]));
  }
};

// Linear betas from beta_1 to beta_T (DDPM: 1e-4 .. 0.02, T = 1000).
inline DiffusionSchedule linear_schedule(int64_t T, double beta_1 = 1e-4, double beta_T = 0.02) {
  DiffusionSchedule s;
  s.T = T;
  s.beta.assign(size_t(T + 1), 0.0);
  s.alpha.assign(size_t(T + 1), 1.0);
  s.abar.assign(size_t(T + 1), 1.0);
  for (int64_t t = 1; t <= T; ++t) {
    s.beta[size_t(t)] = beta_1 + (beta_T - beta_1) * double(t - 1) / double(T - 1);
    s.alpha[size_t(t)] = 1.0 - s.beta[size_t(t)];
    s.abar[size_t(t)] = s.abar[size_t(t - 1)] * s.alpha[size_t(t)];
  }
  return s;
}

// For data x_0 ~ N(m, s^2): x_t ~ N(sqrt(abar) m, abar s^2 + 1 - abar), and
// the best noise prediction E[eps | x_t] is linear in x_t:
// eps*(x_t) = sqrt(1 - abar) (x_t - sqrt(abar) m) / (abar s^2 + 1 - abar).
struct GaussianData {
  double m, s;
  double xt_mean(double abar) const { return std::sqrt(abar) * m; }
  double xt_variance(double abar) const { return abar * s * s + 1.0 - abar; }
  double eps_star_slope(double abar) const { return std::sqrt(1.0 - abar) / xt_variance(abar); }
  double eps_star_intercept(double abar) const { return -eps_star_slope(abar) * xt_mean(abar); }
};

}  // namespace theory
