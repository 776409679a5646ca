// docs/theory.md section 4 (DDPM), checked numerically: the forward marginal,
// the Gaussian posterior q(x_{t-1} | x_t, x_0), the weight in L_{t-1}, the
// noise predictor as a scaled score, and ancestral sampling.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "tests/theory/diffusion_math.h"
#include "tests/theory/theory_support.h"

using namespace ng;
using namespace theory;

namespace {

const DiffusionSchedule& ddpm() {
  static const DiffusionSchedule s = linear_schedule(1000);
  return s;
}

// The mean and variance of q(x_{t-1} | x_t, x_0) by Bayes' rule on a grid:
// the prior q(x_{t-1} | x_0) = N(sqrt(abar_{t-1}) x_0, 1 - abar_{t-1}) times
// the likelihood q(x_t | x_{t-1}) = N(sqrt(alpha_t) x_{t-1}, beta_t),
// normalised numerically. The grid covers both factors, 20 points per
// standard deviation of the narrower one (t >= 2, so the prior has width).
struct Moments {
  double mean, var;
};
Moments posterior_by_quadrature(const DiffusionSchedule& s, int64_t t, double x0, double xt) {
  const double prior_mean = std::sqrt(s.abar[t - 1]) * x0, prior_sd = std::sqrt(1 - s.abar[t - 1]);
  const double lik_mode = xt / std::sqrt(s.alpha[t]), lik_sd = std::sqrt(s.beta[t] / s.alpha[t]);
  const double sd = std::min(prior_sd, lik_sd);
  const double lo = std::min(prior_mean, lik_mode) - 12 * sd, hi = std::max(prior_mean, lik_mode) + 12 * sd;
  const Grid g = grid(lo, hi, int64_t((hi - lo) / (sd / 20)) + 1);
  const Tensor log_joint = normal_log_density(g.x, prior_mean, prior_sd) +
                           normal_log_density(constant(xt), std::sqrt(s.alpha[t]) * g.x,
                                              constant(0.5 * std::log(s.beta[t])));
  const Tensor w = exp(log_joint - max(log_joint).item());
  const double z = sum(w).item();
  const double mean_q = (sum(w * g.x) / z).item();
  return {mean_q, (sum(w * square(g.x - mean_q)) / z).item()};
}

}  // namespace

// 4.1: with the linear schedule 1e-4 .. 0.02 and T = 1000,
// abar_T = prod(1 - beta_t) = exp(sum log(1 - beta_t)) ~ exp(-10.12) ~ 4.04e-5,
// so q(x_T | x_0) = N(0.0064 x_0, 0.99996): almost pure noise, and
// L_T = KL(q(x_T | x_0) || N(0, 1)) = 0.5 (abar_T (x_0^2 - 1) - log(1 - abar_T))
// is at most 2.1e-5 nats a dimension for |x_0| <= 1 (and has no parameters).
TEST(DiffusionTheory, LinearScheduleEndsInNoise) {
  const DiffusionSchedule& s = ddpm();
  double sum_beta = 0.0, sum_beta2 = 0.0;
  for (int64_t t = 1; t <= s.T; ++t) {
    sum_beta += s.beta[t];
    sum_beta2 += s.beta[t] * s.beta[t];
    ASSERT_LT(s.abar[t], s.abar[t - 1]);
  }
  EXPECT_DOUBLE_EQ(s.beta[1], 1e-4);
  EXPECT_DOUBLE_EQ(s.beta[1000], 0.02);
  EXPECT_NEAR(sum_beta, 10.05, 1e-9);
  // log(1 - b) = -b - b^2 / 2 - ..., and the cubic terms add < 1e-3 relative.
  EXPECT_NEAR(s.abar[s.T], std::exp(-sum_beta - 0.5 * sum_beta2), 1e-3 * s.abar[s.T]);
  EXPECT_GT(s.abar[s.T], 4.03e-5);
  EXPECT_LT(s.abar[s.T], 4.04e-5);

  const double a = s.abar[s.T];
  const Tensor x0 = linspace(-1.0, 1.0, 201, kF64);
  const Tensor l_t = 0.5 * (a * (square(x0) - 1.0) - std::log(1.0 - a));
  const std::vector<double> lt = l_t.to_vector<double>(), xs = x0.to_vector<double>();
  for (size_t i = 0; i < xs.size(); i += 20)
    EXPECT_NEAR(lt[i], gaussian_kl(std::sqrt(a) * xs[i], std::sqrt(1 - a), 0.0, 1.0), 1e-15);
  EXPECT_LT(max(l_t).item(), 2.1e-5);
  EXPECT_GE(min(l_t).item(), 0.0);
}

// 4.1: iterating x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) eps_t with
// Philox noise gives, at every t, samples with mean sqrt(abar_t) x_0 and
// variance 1 - abar_t. n = 20000 chains from x_0 = 1.2; each sample
// statistic must lie within 4 of its standard errors.
TEST(DiffusionTheory, MarginalClosedFormMatchesTheIteratedChain) {
  const DiffusionSchedule& s = ddpm();
  const int64_t n = 20000;
  const double x0 = 1.2;
  Generator gen(42);
  NoGradGuard no_grad;
  Tensor x = full({n}, x0, kF64);
  for (int64_t t = 1; t <= s.T; ++t) {
    x = std::sqrt(s.alpha[t]) * x + std::sqrt(s.beta[t]) * randn({n}, gen, kF64);
    if (t == 1 || t == 10 || t == 100 || t == 300 || t == 1000) {
      const Estimate m = mean_and_se(x), v = variance_and_se(x);
      EXPECT_NEAR(m.mean, s.marginal_mean_coef(t) * x0, 4 * m.se) << "t = " << t;
      EXPECT_NEAR(v.mean, s.marginal_variance(t), 4 * v.se) << "t = " << t;
      // The slip sqrt(alpha_t) x_0 (one step's shrinkage) is far outside the band.
      if (t >= 100) {
        EXPECT_GT(std::abs(m.mean - std::sqrt(s.alpha[t]) * x0), 20 * m.se) << "t = " << t;
      }
    }
  }
}

// 4.3: Bayes' rule on a grid. The prior q(x_{t-1} | x_0) = N(sqrt(abar_{t-1}) x_0,
// 1 - abar_{t-1}) times the likelihood q(x_t | x_{t-1}) = N(sqrt(alpha_t) x_{t-1}, beta_t),
// normalised numerically, has the mean and variance of the closed form
// q(x_{t-1} | x_t, x_0) = N(c0 x_0 + ct x_t, beta_tilde_t).
TEST(DiffusionTheory, PosteriorMatchesBayesByQuadrature) {
  const DiffusionSchedule& s = ddpm();
  const double x0 = 0.8;
  for (int64_t t : {2, 10, 100, 500, 1000}) {
    const double xt = std::sqrt(s.abar[t]) * x0 + std::sqrt(1 - s.abar[t]) * 0.7;
    const Moments q = posterior_by_quadrature(s, t, x0, xt);
    const double mean_closed = s.posterior_x0_coef(t) * x0 + s.posterior_xt_coef(t) * xt;
    EXPECT_NEAR(q.mean, mean_closed, 1e-9 * std::max(1.0, std::abs(mean_closed))) << "t = " << t;
    EXPECT_NEAR(q.var, s.posterior_variance(t), 1e-9 * s.posterior_variance(t)) << "t = " << t;
  }
}

// 4.3: with x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, the posterior mean
// c0 x_0 + ct x_t equals (x_t - beta_t / sqrt(1 - abar_t) eps) / sqrt(alpha_t).
TEST(DiffusionTheory, PosteriorMeanInX0AndInEpsAgree) {
  const DiffusionSchedule& s = ddpm();
  Generator gen(8);
  const Tensor x0 = 2.0 * rand({256}, gen, kF64) - 1.0, eps = randn({256}, gen, kF64);
  for (int64_t t : {1, 2, 3, 50, 400, 999, 1000}) {
    const Tensor xt = std::sqrt(s.abar[t]) * x0 + std::sqrt(1 - s.abar[t]) * eps;
    const Tensor from_x0 = s.posterior_x0_coef(t) * x0 + s.posterior_xt_coef(t) * xt;
    const Tensor from_eps = s.eps_mean_xt_coef(t) * xt + s.eps_mean_eps_coef(t) * eps;
    // 1 - abar_t is as small as 1e-4 at t = 1: rounding there costs ~4 digits.
    EXPECT_LT(max(abs(from_x0 - from_eps)).item(), 1e-11) << "t = " << t;
  }
}

// 4.4: with p_theta(x_{t-1} | x_t) = N(mu_theta, sigma_t^2) and mu_theta in
// the eps form, KL(q(x_{t-1} | x_t, x_0) || p_theta) equals
//   beta_t^2 / (2 sigma_t^2 alpha_t (1 - abar_t)) (eps - eps_theta)^2 + C,
// with C = 0.5 (beta_tilde / sigma^2 - 1 - log(beta_tilde / sigma^2)) free of
// theta (0 when sigma^2 = beta_tilde). The KL is computed by quadrature.
TEST(DiffusionTheory, LtIsAWeightedNoisePredictionError) {
  const DiffusionSchedule& s = ddpm();
  const double x0 = -0.6, eps = 0.9;
  for (int64_t t : {2, 20, 300, 1000}) {
    const double xt = std::sqrt(s.abar[t]) * x0 + std::sqrt(1 - s.abar[t]) * eps;
    const double mean_q = s.eps_mean_xt_coef(t) * xt + s.eps_mean_eps_coef(t) * eps;
    const double var_q = s.posterior_variance(t);
    for (double sigma2 : {s.posterior_variance(t), s.beta[t]}) {
      for (double eps_theta : {0.9, 0.2, -1.5}) {
        const double mean_p = s.eps_mean_xt_coef(t) * xt + s.eps_mean_eps_coef(t) * eps_theta;
        const double sd = std::sqrt(var_q);
        const Grid g = grid(mean_q - 14 * sd, mean_q + 14 * sd, 20001);
        const Tensor log_q = normal_log_density(g.x, mean_q, sd);
        const Tensor log_p = normal_log_density(g.x, mean_p, std::sqrt(sigma2));
        const double kl = integrate(exp(log_q) * (log_q - log_p), g).item();

        const double r = var_q / sigma2;
        const double expected = s.lt_weight(t, sigma2) * (eps - eps_theta) * (eps - eps_theta) +
                                0.5 * (r - 1 - std::log(r));
        EXPECT_NEAR(kl, expected, 1e-9 * std::max(1.0, expected))
            << "t = " << t << ", sigma2 = " << sigma2 << ", eps_theta = " << eps_theta;
      }
    }
  }
}

// 4.6: for Gaussian data x_0 ~ N(m, s^2), x_t ~ N(sqrt(abar) m, abar s^2 + 1 - abar)
// and the best noise prediction E[eps | x_t] is
// sqrt(1 - abar) (x_t - sqrt(abar) m) / (abar s^2 + 1 - abar). It equals
// -sqrt(1 - abar_t) times the score d/dx log q(x_t), taken by autograd.
TEST(DiffusionTheory, OptimalNoisePredictorIsTheScaledScore) {
  const DiffusionSchedule& s = ddpm();
  const GaussianData data{1.5, 0.5};
  for (int64_t t : {1, 10, 100, 500, 1000}) {
    const double a = s.abar[t];
    const Tensor x = linspace(-4.0, 5.0, 91, kF64).requires_grad_();
    const Tensor log_q = normal_log_density(x, data.xt_mean(a), std::sqrt(data.xt_variance(a)));
    const Tensor score = autograd::grad({sum(log_q)}, {x})[0];
    const Tensor eps_star = data.eps_star_slope(a) * x.detach() + data.eps_star_intercept(a);
    EXPECT_LT(max(abs(eps_star + std::sqrt(1 - a) * score)).item(), 1e-12) << "t = " << t;
  }
}

// 4.5-4.6: L_simple at one t, E (eps - eps_theta(x_t))^2 over Philox samples,
// minimised by gradient descent over linear predictors eps_theta = a x_t + b,
// lands on eps* above: the minimiser of a squared error is the conditional
// mean. Least squares on n samples has standard errors
// se(a) = r / sqrt(n var(x_t)), se(b) = r sqrt(1/n + mean(x_t)^2 / (n var(x_t))),
// with r^2 = Var(eps | x_t); both must hold to 4 se.
TEST(DiffusionTheory, LSimpleIsMinimisedByTheConditionalMeanOfTheNoise) {
  const DiffusionSchedule& s = ddpm();
  const GaussianData data{1.5, 0.5};
  const int64_t n = 20000, t = 300;
  const double abar = s.abar[t];
  Generator gen(77);
  const Tensor x0 = data.m + data.s * randn({n}, gen, kF64);
  const Tensor eps = randn({n}, gen, kF64);
  const Tensor xt = std::sqrt(abar) * x0 + std::sqrt(1 - abar) * eps;

  Tensor a = parameter(0.0), b = parameter(0.0);
  auto l_simple = [&] { return mean(square(eps - (a * xt + b))); };
  gradient_descent(l_simple, {a, b}, 0.3, 300, 0.7);
  ASSERT_LT(max_abs_gradient(l_simple, {a, b}), 1e-12);

  const double residual_var = 1.0 - (1 - abar) / data.xt_variance(abar);
  const Estimate xt_mean = mean_and_se(xt);
  const double xt_var = variance_and_se(xt).mean;
  const double se_a = std::sqrt(residual_var / (double(n) * xt_var));
  const double se_b = std::sqrt(residual_var * (1.0 / double(n) + xt_mean.mean * xt_mean.mean / (double(n) * xt_var)));
  EXPECT_NEAR(a.item(), data.eps_star_slope(abar), 4 * se_a);
  EXPECT_NEAR(b.item(), data.eps_star_intercept(abar), 4 * se_b);
  EXPECT_LT(se_a, 0.01);
}

// 4.6: ancestral sampling with the exact eps*, from x_T ~ N(0, 1):
//   x_{t-1} = (x_t - beta_t / sqrt(1 - abar_t) eps*(x_t)) / sqrt(alpha_t) + sigma_t z
// (no noise at t = 1), for sigma_t^2 = beta_tilde_t and sigma_t^2 = beta_t.
// Each step is linear in x_t, so the output's exact mean and variance follow
// from a recursion; the Monte-Carlo samples must match it within 4 standard
// errors, and it must match the data N(1.5, 0.5^2) up to the discretisation
// error of T = 1000 steps (under 1% of s for the std here: beta_tilde
// gives 0.4961, beta 0.5008, the true reverse steps being slightly wider
// than beta_tilde and narrower than beta).
TEST(DiffusionTheory, AncestralSamplingWithTheOptimalPredictorRecoversTheData) {
  const DiffusionSchedule& s = ddpm();
  const GaussianData data{1.5, 0.5};
  const int64_t n = 20000;
  for (bool tilde : {true, false}) {
    Generator gen(tilde ? 5 : 6);
    NoGradGuard no_grad;
    Tensor x = randn({n}, gen, kF64);
    double mean_exact = 0.0, var_exact = 1.0;
    for (int64_t t = s.T; t >= 1; --t) {
      const double abar = s.abar[t];
      const double slope = data.eps_star_slope(abar), intercept = data.eps_star_intercept(abar);
      const double k = s.beta[t] / std::sqrt(1 - abar), inv_sqrt_alpha = 1 / std::sqrt(s.alpha[t]);
      const double sigma2 = t == 1 ? 0.0 : tilde ? s.posterior_variance(t) : s.beta[t];
      const Tensor eps_star = slope * x + intercept;
      x = inv_sqrt_alpha * (x - k * eps_star);
      if (t > 1) x = x + std::sqrt(sigma2) * randn({n}, gen, kF64);
      // The same step on the mean and variance: x -> A x + B + sigma z.
      const double A = inv_sqrt_alpha * (1 - k * slope), B = -inv_sqrt_alpha * k * intercept;
      mean_exact = A * mean_exact + B;
      var_exact = A * A * var_exact + sigma2;
    }
    const Estimate m = mean_and_se(x), v = variance_and_se(x);
    EXPECT_NEAR(m.mean, mean_exact, 4 * m.se) << (tilde ? "beta_tilde" : "beta");
    EXPECT_NEAR(v.mean, var_exact, 4 * v.se) << (tilde ? "beta_tilde" : "beta");
    EXPECT_NEAR(mean_exact, data.m, 1e-4);
    EXPECT_NEAR(std::sqrt(var_exact), data.s, 0.01 * data.s) << (tilde ? "beta_tilde" : "beta");
    EXPECT_NEAR(m.mean, data.m, 4 * m.se + 1e-4);
    EXPECT_NEAR(std::sqrt(v.mean), data.s, 0.01 * data.s + 4 * v.se / (2 * data.s));
  }
}

// 4.1 (the homework's 4.b): x_T is pure noise when abar_T -> 0, and that
// happens exactly when sum beta_t diverges. -log abar_T = sum -log(1 - beta_t)
// and b <= -log(1 - b) <= b / (1 - b), so
//   sum beta_t <= -log abar_T <= sum beta_t / (1 - max beta_t).
// The linear schedule: 10.05 <= 10.118 <= 10.255. A schedule whose betas
// sum to a finite number, beta_t = 0.5 / t^2, never gets there: by Euler's
// product sin(pi x) / (pi x) = prod (1 - x^2 / t^2) with x^2 = 1/2,
// abar_T -> sin(pi / sqrt 2) / (pi / sqrt 2) = 0.3582 however large T is,
// and L_T stays near 0.22 nats at x_0 = 1 instead of 1e-5.
TEST(DiffusionTheory, NoiseAtTheEndNeedsTheBetasToSumToInfinity) {
  const DiffusionSchedule& s = ddpm();
  double sum_beta = 0.0, max_beta = 0.0;
  for (int64_t t = 1; t <= s.T; ++t) sum_beta += s.beta[t], max_beta = std::max(max_beta, s.beta[t]);
  const double minus_log_abar = -std::log(s.abar[s.T]);
  EXPECT_GE(minus_log_abar, sum_beta);
  EXPECT_LE(minus_log_abar, sum_beta / (1 - max_beta));
  EXPECT_NEAR(minus_log_abar, 10.118, 5e-4);

  const int64_t T = 100000;
  double abar = 1.0, sum_b = 0.0;
  for (int64_t t = 1; t <= T; ++t) {
    const double b = 0.5 / (double(t) * double(t));
    abar *= 1 - b;
    sum_b += b;
    ASSERT_GE(-std::log(abar), sum_b * (1 - 1e-12)) << "t = " << t;
    ASSERT_LE(-std::log(abar), sum_b / (1 - 0.5) * (1 + 1e-12)) << "t = " << t;
  }
  const double x = std::numbers::pi / std::sqrt(2.0);
  // The factors after T multiply abar by about exp(-0.5 / T): 5e-6 relative.
  EXPECT_NEAR(abar, std::sin(x) / x, 1e-5 * abar);
  EXPECT_GT(abar, 0.358);
  const double x0 = 1.0, l_t = 0.5 * (abar * (x0 * x0 - 1) - std::log(1 - abar));
  EXPECT_NEAR(l_t, gaussian_kl(std::sqrt(abar) * x0, std::sqrt(1 - abar), 0.0, 1.0), 1e-14);
  EXPECT_GT(l_t, 0.2);
}

// 4.7: two of the homework's slips, against the quadrature.
// Eq. 7 writes the eps form of the posterior mean with beta_t / (1 - abar_t)
// where beta_t / sqrt(1 - abar_t) belongs. Bayes' rule on a grid (accurate to
// 1e-9) agrees with the right form and misses the written one by exactly
// beta_t (1 / (1 - abar_t) - 1 / sqrt(1 - abar_t)) eps / sqrt(alpha_t):
// 0.38 at t = 2 (eps = 0.7), still 2.8e-7 at t = T, 280 times the tolerance.
// Eq. 14's weight: the eps_theta-dependent part of the KL, by quadrature,
// divided by (eps - eps_theta)^2, is beta_t^2 / (2 sigma_t^2 alpha_t (1 - abar_t)).
// Without the 1 / sigma_t^2 (as written) it is sigma_t^2 = beta_t times too
// small; dividing by ||Sigma_theta||^2 = sigma_t^4 instead of 2 sigma_t^2 makes
// it 2 / sigma_t^2 times too large (1.7e4 at t = 2, 100 at t = T).
TEST(DiffusionTheory, HomeworkSlipsDisagreeWithTheQuadrature) {
  const DiffusionSchedule& s = ddpm();
  const double x0 = 0.8, eps = 0.7;
  for (int64_t t : {2, 10, 100, 1000}) {
    const double xt = std::sqrt(s.abar[t]) * x0 + std::sqrt(1 - s.abar[t]) * eps;
    const Moments q = posterior_by_quadrature(s, t, x0, xt);
    const double tol = 1e-9 * std::max(1.0, std::abs(q.mean));
    const double right = (xt - s.beta[t] / std::sqrt(1 - s.abar[t]) * eps) / std::sqrt(s.alpha[t]);
    const double written = (xt - s.beta[t] / (1 - s.abar[t]) * eps) / std::sqrt(s.alpha[t]);
    const double predicted_gap =
        s.beta[t] * (1 / (1 - s.abar[t]) - 1 / std::sqrt(1 - s.abar[t])) * eps / std::sqrt(s.alpha[t]);
    EXPECT_NEAR(q.mean, right, tol) << "t = " << t;
    EXPECT_NEAR(q.mean - written, predicted_gap, tol) << "t = " << t;
    EXPECT_GT(std::abs(q.mean - written), 100 * tol) << "t = " << t;
    if (t == 2) {
      EXPECT_NEAR(q.mean - written, 0.38, 0.01);
    }

    // KL(N(mean_q, var_q) || N(mean_p, sigma2)) by quadrature, per eps_theta.
    const double var_q = s.posterior_variance(t), sigma2 = s.beta[t], sd = std::sqrt(var_q);
    const Grid g = grid(q.mean - 14 * sd, q.mean + 14 * sd, 20001);
    const Tensor log_q = normal_log_density(g.x, right, sd);
    auto kl_to_model = [&](double eps_theta) {
      const double mean_p = (xt - s.beta[t] / std::sqrt(1 - s.abar[t]) * eps_theta) / std::sqrt(s.alpha[t]);
      return integrate(exp(log_q) * (log_q - normal_log_density(g.x, mean_p, std::sqrt(sigma2))), g).item();
    };
    const double eps_theta = -0.5;
    const double weight = (kl_to_model(eps_theta) - kl_to_model(eps)) / ((eps - eps_theta) * (eps - eps_theta));
    const double common = s.beta[t] * s.beta[t] / (s.alpha[t] * (1 - s.abar[t]));
    EXPECT_NEAR(weight, common / (2 * sigma2), 1e-8 * weight) << "t = " << t;
    EXPECT_NEAR((common / 2) / weight, sigma2, 1e-8 * sigma2) << "t = " << t;  // eq. 14 as written
    EXPECT_NEAR((common / (sigma2 * sigma2)) / weight, 2 / sigma2, 2e-8 / sigma2) << "t = " << t;
  }
}

// 4.6: eps*(x_t) = E[eps | x_t] = -sqrt(1 - abar_t) d/dx log q_t(x_t) for
// data that is not Gaussian: p_data = 0.3 N(-1, 0.2^2) + 0.7 N(0.8, 0.3^2).
// E[eps | x_t] by quadrature over x_0 (Bayes: q(x_0 | x_t) is proportional to
// N(x_t; a x_0, b^2) p_data(x_0), eps = (x_t - a x_0) / b; spacing 0.002,
// five points per standard deviation b / a = 0.01 of the narrowest factor at
// t = 1, where the trapezoid rule's error is below exp(-2 pi^2 5^2)); the score
// by autograd of the closed-form log q_t, a mixture of
// N(a m_k, a^2 s_k^2 + b^2). Here eps* is far from linear: at t <= 100 it
// differs from the Gaussian data's formula with the same mean and variance by
// more than 0.2.
TEST(DiffusionTheory, OptimalNoisePredictorIsTheScaledScoreForAMixture) {
  const DiffusionSchedule& s = ddpm();
  const std::vector<double> weight{0.3, 0.7}, mu{-1.0, 0.8}, sd{0.2, 0.3};
  double m = 0.0, second = 0.0;
  for (size_t k = 0; k < 2; ++k) m += weight[k] * mu[k], second += weight[k] * (sd[k] * sd[k] + mu[k] * mu[k]);
  const GaussianData moment_matched{m, std::sqrt(second - m * m)};

  const int64_t nx = 61;
  const Grid g0 = grid(-4.0, 4.5, 4251);
  const Tensor x0 = g0.x.reshape({1, g0.x.numel()});
  const Tensor log_data = log_add_exp(std::log(weight[0]) + normal_log_density(x0, mu[0], sd[0]),
                                      std::log(weight[1]) + normal_log_density(x0, mu[1], sd[1]));
  for (int64_t t : {1, 10, 100, 500, 1000}) {
    const double a = std::sqrt(s.abar[t]), b = std::sqrt(1 - s.abar[t]);
    const Tensor x = linspace(-2.0, 2.5, nx, kF64).requires_grad_();
    Tensor eps_star;
    {
      NoGradGuard no_grad;
      const Tensor xt = x.detach().reshape({nx, 1});
      Tensor log_w = normal_log_density(xt, a * x0, constant(std::log(b))) + log_data;
      log_w = log_w - max(log_w, {1}, true);
      const Tensor w = exp(log_w);
      eps_star = sum(w * (xt - a * x0) / b, {1}) / sum(w, {1});
    }
    auto component = [&](size_t k) {
      return std::log(weight[k]) +
             normal_log_density(x, a * mu[k], std::sqrt(a * a * sd[k] * sd[k] + b * b));
    };
    const Tensor score = autograd::grad({sum(log_add_exp(component(0), component(1)))}, {x})[0];
    EXPECT_LT(max(abs(eps_star + b * score)).item(), 1e-10) << "t = " << t;

    const Tensor linear = moment_matched.eps_star_slope(s.abar[t]) * x.detach() +
                          moment_matched.eps_star_intercept(s.abar[t]);
    if (t <= 100) {
      EXPECT_GT(max(abs(eps_star - linear)).item(), 0.2) << "t = " << t;
    }
  }
}

// 4.4: the decomposition L_T + sum_{t=2}^T L_{t-1} + L_0 against the bound
// itself, -E_q[log p_theta(x_{0:T}) / q(x_{1:T} | x_0)], at three x_0.
// A short chain (T = 4, betas 0.1, 0.3, 0.5, 0.7) and an imperfect linear
// predictor (the optimal one for N(0.3, 0.8^2) data), with
// p_theta(x_{t-1} | x_t) = N(mu_theta(x_t, t), sigma_t^2) in the eps form,
// sigma_t^2 = beta_tilde_t or beta_t (sigma_1^2 = beta_1 for the decoder
// p_theta(x_0 | x_1), since beta_tilde_1 = 0). Direct: the mean of
// -log p_theta(x_{0:T}) + log q(x_{1:T} | x_0) over 200 000 chains drawn from
// q with Philox noise. Decomposition: L_T in closed form; each L_{t-1} and L_0
// by quadrature over x_t ~ q(x_t | x_0) of the Gaussian KL (or of
// -log p_theta(x_0 | x_1)). They must agree within 4 standard errors of the
// direct mean; with sigma_t^2 = beta_t that is sharp enough that leaving out
// any single term (the smallest, L_T, is 0.0066 at x_0 = 0.3) fails.
TEST(DiffusionTheory, BoundDecompositionMatchesTheDirectBound) {
  const DiffusionSchedule s = linear_schedule(4, 0.1, 0.7);
  const int64_t T = s.T, n = 200000;
  const GaussianData model{0.3, 0.8};
  auto mu_theta = [&](const Tensor& xt, int64_t t) {
    const Tensor eps_theta = model.eps_star_slope(s.abar[t]) * xt + model.eps_star_intercept(s.abar[t]);
    return (xt - s.beta[t] / std::sqrt(1 - s.abar[t]) * eps_theta) / std::sqrt(s.alpha[t]);
  };
  uint64_t seed = 400;
  for (bool tilde : {true, false}) {
    auto sigma2 = [&](int64_t t) { return t == 1 || !tilde ? s.beta[t] : s.posterior_variance(t); };
    for (double x0 : {-1.0, 0.3, 1.5}) {
      NoGradGuard no_grad;
      Generator gen(seed++);
      std::vector<Tensor> x{full({n}, x0, kF64)};
      Tensor log_ratio = zeros({n}, kF64);
      for (int64_t t = 1; t <= T; ++t) {
        const Tensor mean_t = std::sqrt(s.alpha[t]) * x.back();
        x.push_back(mean_t + std::sqrt(s.beta[t]) * randn({n}, gen, kF64));
        log_ratio = log_ratio - normal_log_density(x.back(), mean_t, constant(0.5 * std::log(s.beta[t])));
      }
      log_ratio = log_ratio + normal_log_density(x[size_t(T)], 0.0, 1.0);
      for (int64_t t = 1; t <= T; ++t)
        log_ratio = log_ratio + normal_log_density(x[size_t(t - 1)], mu_theta(x[size_t(t)], t),
                                                   constant(0.5 * std::log(sigma2(t))));
      const Estimate direct = mean_and_se(-log_ratio);

      std::vector<double> terms{gaussian_kl(std::sqrt(s.abar[T]) * x0, std::sqrt(1 - s.abar[T]), 0.0, 1.0)};
      for (int64_t t = 1; t <= T; ++t) {
        const double m = std::sqrt(s.abar[t]) * x0, sd = std::sqrt(1 - s.abar[t]);
        const Grid g = grid(m - 12 * sd, m + 12 * sd, 4001);
        Tensor f;
        if (t == 1) {
          f = -normal_log_density(constant(x0), mu_theta(g.x, 1), constant(0.5 * std::log(sigma2(1))));
        } else {
          const double v = s.posterior_variance(t), s2 = sigma2(t);
          const Tensor diff = s.posterior_x0_coef(t) * x0 + s.posterior_xt_coef(t) * g.x - mu_theta(g.x, t);
          f = 0.5 * std::log(s2 / v) + (v + square(diff)) / (2 * s2) - 0.5;
        }
        terms.push_back(integrate(exp(normal_log_density(g.x, m, sd)) * f, g).item());
      }
      double total = 0.0, smallest = INFINITY;
      for (double term : terms) total += term, smallest = std::min(smallest, std::abs(term));
      EXPECT_NEAR(direct.mean, total, 4 * direct.se) << (tilde ? "beta_tilde" : "beta") << ", x0 = " << x0;
      EXPECT_LT(direct.se, 0.005);
      if (!tilde) {
        EXPECT_GT(smallest, 8 * direct.se) << "x0 = " << x0;
      }
    }
  }
}

// 4.5: the t = 1 term. With a Gaussian decoder p_theta(x_0 | x_1) =
// N(mu_theta(x_1, 1), sigma_1^2) and x_1 = sqrt(alpha_1) x_0 + sqrt(beta_1) eps
// (1 - abar_1 = beta_1), x_0 - mu_theta = sqrt(beta_1 / alpha_1) (eps_theta - eps),
// so for every x_0, eps and prediction eps_theta
//   -log p_theta(x_0 | x_1) = beta_1 / (2 sigma_1^2 alpha_1) (eps - eps_theta)^2 + log(2 pi sigma_1^2) / 2:
// the weight of the t >= 2 terms evaluated at t = 1 (1/(2 alpha_1) = 0.50005
// for sigma_1^2 = beta_1), plus a constant. L_simple's t = 1 term is L_0.
TEST(DiffusionTheory, FirstStepDecoderTermIsANoisePredictionErrorToo) {
  const DiffusionSchedule& s = ddpm();
  Generator gen(12);
  const int64_t n = 1000;
  const Tensor x0 = 2.0 * rand({n}, gen, kF64) - 1.0, eps = randn({n}, gen, kF64);
  const Tensor eps_theta = eps + 0.3 * randn({n}, gen, kF64);
  const Tensor x1 = std::sqrt(s.alpha[1]) * x0 + std::sqrt(s.beta[1]) * eps;
  const Tensor mu = (x1 - s.beta[1] / std::sqrt(1 - s.abar[1]) * eps_theta) / std::sqrt(s.alpha[1]);
  for (double sigma2 : {s.beta[1], 0.01}) {
    const Tensor nll = -normal_log_density(x0, mu, constant(0.5 * std::log(sigma2)));
    const Tensor weighted = s.lt_weight(1, sigma2) * square(eps - eps_theta) + 0.5 * std::log(2 * std::numbers::pi * sigma2);
    EXPECT_LT(max(abs(nll - weighted) / (1.0 + abs(nll))).item(), 1e-9) << "sigma2 = " << sigma2;
  }
  EXPECT_NEAR(s.lt_weight(1, s.beta[1]), 0.50005, 1e-8);
}

// 4.6 (the homework's 4.f): unadjusted Langevin, x <- x + (eta / 2) d/dx log pi(x) + sqrt(eta) z,
// on pi = N(0, s^2) is x <- r x + sqrt(eta) z with r = 1 - eta / (2 s^2). Its
// variance follows v <- r^2 v + eta, with fixed point
//   v* = eta / (1 - r^2) = s^2 / (1 - eta / (4 s^2)),
// too wide by a factor that tends to 1 as eta -> 0 (1.185, 1.041, 1.0039,
// 1.00039 for eta = 0.4, 0.1, 0.01, 0.001 with s = 0.8). 50 000 chains run
// 300 steps from 0 match the recursion within 4 standard errors and miss
// s^2 by more than 4 (25 and 6 for eta = 0.4 and 0.1). A Metropolis
// accept/reject step (MALA) removes the bias: its chains' variance is s^2
// within 4 standard errors at eta = 0.4.
TEST(DiffusionTheory, UnadjustedLangevinIsBiasedByItsStepSize) {
  const double s = 0.8, s2 = s * s;
  for (double eta : {0.4, 0.1, 0.01, 0.001}) {
    const double r = 1 - eta / (2 * s2);
    double v = 0.0;
    for (int k = 0; k < 200000 && std::abs(v * (1 - r * r) - eta) > 1e-16; ++k) v = r * r * v + eta;
    EXPECT_NEAR(v, s2 / (1 - eta / (4 * s2)), 1e-12) << "eta = " << eta;
  }

  const int64_t n = 50000, steps = 300;
  NoGradGuard no_grad;
  for (double eta : {0.4, 0.1}) {
    Generator gen(eta > 0.2 ? 81 : 82);
    const double r = 1 - eta / (2 * s2);
    Tensor x = zeros({n}, kF64);
    double v = 0.0;
    for (int64_t k = 0; k < steps; ++k) {
      x = r * x + std::sqrt(eta) * randn({n}, gen, kF64);
      v = r * r * v + eta;
    }
    const Estimate var = variance_and_se(x);
    EXPECT_NEAR(var.mean, v, 4 * var.se) << "eta = " << eta;
    EXPECT_GT(std::abs(var.mean - s2), 4 * var.se) << "eta = " << eta;
  }

  // MALA: propose y = r x + sqrt(eta) z, accept with probability
  // min(1, pi(y) k(x | y) / (pi(x) k(y | x))), k(y | x) = N(y; r x, eta).
  const double eta = 0.4, r = 1 - eta / (2 * s2);
  Generator gen(83);
  Tensor x = zeros({n}, kF64);
  double accepted = 0.0;
  for (int64_t k = 0; k < steps; ++k) {
    const Tensor y = r * x + std::sqrt(eta) * randn({n}, gen, kF64);
    const Tensor log_ratio = normal_log_density(y, 0.0, s) + normal_log_density(x, r * y, constant(0.5 * std::log(eta))) -
                             normal_log_density(x, 0.0, s) - normal_log_density(y, r * x, constant(0.5 * std::log(eta)));
    const Tensor accept = lt(log(rand({n}, gen, kF64)), log_ratio);
    accepted += mean(accept).item();
    x = where(accept, y, x);
  }
  const Estimate var = variance_and_se(x);
  EXPECT_NEAR(var.mean, s2, 4 * var.se);
  EXPECT_GT(accepted / double(steps), 0.5);
}
