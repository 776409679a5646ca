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
    // A grid wide enough for both factors, 20 points per standard deviation of the narrower one.
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
    const double var_q = (sum(w * square(g.x - mean_q)) / z).item();

    const double mean_closed = s.posterior_x0_coef(t) * x0 + s.posterior_xt_coef(t) * xt;
    EXPECT_NEAR(mean_q, mean_closed, 1e-9 * std::max(1.0, std::abs(mean_closed))) << "t = " << t;
    EXPECT_NEAR(var_q, s.posterior_variance(t), 1e-9 * s.posterior_variance(t)) << "t = " << t;
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
