// docs/theory.md section 3: the optimal discriminator, the divergence a GAN
// generator then minimises, and maximum likelihood as the forward KL.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <vector>

#include "tests/theory/theory_support.h"

using namespace ng;
using namespace theory;

namespace {

const double kLog2 = std::log(2.0);

// p_data for sections 3.1-3.3: a two-component mixture, and the generator N(theta, 1.2^2).
Tensor log_p_data(const Tensor& x) {
  return log_add_exp(std::log(0.3) + normal_log_density(x, -2.0, 0.5),
                     std::log(0.7) + normal_log_density(x, 1.0, 0.8));
}
const double kGenStd = 1.2;

// KL(p || q) and JSD(p, q) by quadrature from log-densities on a grid.
double kl_on_grid(const Tensor& log_p, const Tensor& log_q, const Grid& g) {
  return integrate(exp(log_p) * (log_p - log_q), g).item();
}
double jsd_on_grid(const Tensor& log_p, const Tensor& log_q, const Grid& g) {
  const Tensor log_m = log_add_exp(log_p, log_q) - kLog2;
  return 0.5 * (kl_on_grid(log_p, log_m, g) + kl_on_grid(log_q, log_m, g));
}

// Inverse of a symmetric 3 x 3 matrix by cofactors.
std::array<std::array<double, 3>, 3> inverse3(const std::array<std::array<double, 3>, 3>& a) {
  std::array<std::array<double, 3>, 3> c{};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) {
      const int i1 = (i + 1) % 3, i2 = (i + 2) % 3, j1 = (j + 1) % 3, j2 = (j + 2) % 3;
      c[j][i] = a[i1][j1] * a[i2][j2] - a[i1][j2] * a[i2][j1];  // transposed cofactor
    }
  const double det = a[0][0] * c[0][0] + a[0][1] * c[1][0] + a[0][2] * c[2][0];
  for (auto& row : c)
    for (double& v : row) v /= det;
  return c;
}

}  // namespace

// 3.4: KL(N(m1, s1^2) || N(m2, s2^2)) = log(s2 / s1) + (s1^2 + (m1 - m2)^2) / (2 s2^2) - 1/2,
// against quadrature (tolerance 1e-9) and Monte Carlo with Philox samples
// (within 4 standard errors); and the expected NLL E_p[-log q] (what maximum
// likelihood minimises) is KL(p || q) + H(p) with H(p) = log(s1 sqrt(2 pi e)).
TEST(Discriminator, GaussianKlClosedFormMatchesQuadratureAndMonteCarlo) {
  struct Pair {
    double m1, s1, m2, s2;
  };
  const Grid g = grid(-20.0, 20.0, 40001);
  Generator gen(5);
  for (const Pair& c : {Pair{0, 1, 1, 2}, Pair{0.5, 0.7, -1, 1.3}, Pair{2, 0.3, 0, 1}, Pair{0, 2, 0, 0.5}}) {
    const double closed = gaussian_kl(c.m1, c.s1, c.m2, c.s2);
    const Tensor log_p = normal_log_density(g.x, c.m1, c.s1), log_q = normal_log_density(g.x, c.m2, c.s2);
    EXPECT_NEAR(kl_on_grid(log_p, log_q, g), closed, 1e-9);

    const Tensor x = c.m1 + c.s1 * randn({100000}, gen, kF64);
    const Estimate mc = mean_and_se(normal_log_density(x, c.m1, c.s1) - normal_log_density(x, c.m2, c.s2));
    EXPECT_NEAR(mc.mean, closed, 4 * mc.se) << "MC " << mc.mean << " +- " << mc.se;

    const double cross_entropy = integrate(-exp(log_p) * log_q, g).item();
    const double entropy = std::log(c.s1 * std::sqrt(2 * std::numbers::pi * std::exp(1.0)));
    EXPECT_NEAR(cross_entropy, closed + entropy, 1e-9);
  }
}

// 3.1: pointwise, p log D + q log(1 - D) is largest at D* = p / (p + q),
// so D* maximises V(D) = E_p log D + E_q log(1 - D); the gradient of V in the
// discriminator's logits (one per grid point) vanishes there; and
// V(D*) = 2 JSD(p, q) - log 4. Any other D does worse.
TEST(Discriminator, OptimalDiscriminatorMaximisesTheValueAtTwoJsdMinusLog4) {
  const Grid g = grid(-12.0, 12.0, 24001);
  const Tensor lp = log_p_data(g.x), lq = normal_log_density(g.x, 0.0, 1.5);
  const Tensor p = exp(lp), q = exp(lq);
  // V as a function of the logit h = log(D / (1 - D)) at every grid point.
  auto value = [&](const Tensor& h) { return integrate(p * log_sigmoid(h) + q * log_sigmoid(-h), g); };

  const Tensor h_star = (lp - lq).detach().requires_grad_();
  const Tensor v_star = value(h_star);
  EXPECT_NEAR(v_star.item(), 2 * jsd_on_grid(lp, lq, g) - std::log(4.0), 1e-10);
  EXPECT_LT(max(abs(autograd::grad({v_star}, {h_star})[0])).item(), 1e-15);

  // D* = p / (p + q) is the same function as sigmoid(log p - log q).
  const std::vector<double> a = sigmoid(h_star).to_vector<double>(), b = (p / (p + q)).to_vector<double>();
  for (size_t i = 0; i < a.size(); i += 1000) EXPECT_NEAR(a[i], b[i], 1e-12);

  for (double eps : {0.3, -0.1, 0.01}) {
    EXPECT_LT(value(h_star.detach() + eps * sin(g.x)).item(), v_star.item()) << "eps " << eps;
    EXPECT_LT(value(h_star.detach() + eps).item(), v_star.item()) << "eps " << eps;
  }
}

// 3.3: log(1 - D) - log D = -h for D = sigmoid(h); at D* the generator loss
// E_pg[log(1 - D*) - log D*] = E_pg[log(p_g / p_data)] = KL(p_g || p_data),
// the reverse KL (Monte Carlo over Philox samples of p_g, within 4 SE).
TEST(Discriminator, GeneratorLossAtOptimalDiscriminatorIsReverseKl) {
  const Tensor h = linspace(-30.0, 30.0, 601, kF64);
  EXPECT_LT(max(abs(log_sigmoid(-h) - log_sigmoid(h) + h)).item(), 1e-12);

  const double theta = 0.4;
  const Grid g = grid(-14.0, 14.0, 28001);
  const double reverse_kl = kl_on_grid(normal_log_density(g.x, theta, kGenStd), log_p_data(g.x), g);

  Generator gen(17);
  const Tensor x = theta + kGenStd * randn({200000}, gen, kF64);
  const Tensor h_star = log_p_data(x) - normal_log_density(x, theta, kGenStd);
  const Estimate loss = mean_and_se(log_sigmoid(-h_star) - log_sigmoid(h_star));
  EXPECT_LT(loss.se, 0.01);
  EXPECT_NEAR(loss.mean, reverse_kl, 4 * loss.se) << "MC " << loss.mean << " +- " << loss.se;
}

// 3.3: what the generator's gradient is. Write x = theta + sigma eps and hold
// the optimal discriminator fixed (as training does). Then
//   d/dtheta E[log(1 - D*)] = d/dtheta 2 JSD(p_data, p_theta)      (minimax loss),
//   d/dtheta E[-log D*]     = d/dtheta [KL(p_theta || p_data) - 2 JSD]  (non-saturating),
// and their sum is d/dtheta KL(p_theta || p_data): the terms where D* itself
// moves with theta add up to E_ptheta[d log p_theta / d theta] = 0. The
// expectation over eps is a quadrature (weights N(eps; 0, 1) d eps), the
// right-hand sides are central differences of quadratures in x.
TEST(Discriminator, GeneratorGradientsAtAFixedOptimalDiscriminator) {
  const double theta0 = 0.4, delta = 1e-4;
  const Grid x_grid = grid(-14.0, 14.0, 28001);
  auto divergences = [&](double theta) {
    const Tensor lg = normal_log_density(x_grid.x, theta, kGenStd), ld = log_p_data(x_grid.x);
    return std::pair{kl_on_grid(lg, ld, x_grid), 2 * jsd_on_grid(ld, lg, x_grid)};
  };
  const auto [kl_hi, js2_hi] = divergences(theta0 + delta);
  const auto [kl_lo, js2_lo] = divergences(theta0 - delta);
  const double d_kl = (kl_hi - kl_lo) / (2 * delta), d_js2 = (js2_hi - js2_lo) / (2 * delta);

  const Grid e = grid(-10.0, 10.0, 20001);
  const Tensor weights = exp(normal_log_density(e.x, 0.0, 1.0)) * e.dx;
  const Tensor theta = parameter(theta0);
  const Tensor x = theta + kGenStd * e.x;
  // h*(x) = log p_data(x) - log p_theta0(x), with theta0 a constant.
  const Tensor h_star = log_p_data(x) - normal_log_density(x, theta0, kGenStd);
  const Tensor minimax = sum(weights * log_sigmoid(-h_star));
  const Tensor non_saturating = sum(weights * -log_sigmoid(h_star));
  const double g_minimax = autograd::grad({minimax}, {theta}, {}, true)[0].item();
  const double g_ns = autograd::grad({non_saturating}, {theta})[0].item();

  EXPECT_NEAR(g_minimax, d_js2, 1e-7);
  EXPECT_NEAR(g_ns, d_kl - d_js2, 1e-7);
  EXPECT_NEAR(g_minimax + g_ns, d_kl, 1e-7);
  EXPECT_GT(std::abs(d_kl), 0.05) << "the check must compare non-trivial gradients";
}

// 3.2: logistic regression as a density-ratio estimator. Samples of
// p_data = N(0.5, 1) (label 1) and p_g = N(-0.5, 1.5^2) (label 0), as many of
// each; a discriminator D = sigmoid(h), h = w0 + w1 x + w2 x^2, trained by
// gradient descent on the GAN discriminator loss. The true log-ratio
// log p_data / p_g is exactly quadratic, so the model is well specified and
// the fitted h tends to h* = log p_data / p_g. The tolerance comes from the
// estimate's own covariance, the inverse of the loss's Hessian
// H = sum_n s_n (1 - s_n) phi_n phi_n^T (s = sigmoid(h), phi = (1, x, x^2)):
// (w - w*)^T H (w - w*) is about chi-square with 3 degrees of freedom, below
// 21.1 with probability 0.9999, and then, by Cauchy-Schwarz, every grid point
// has |h(x) - h*(x)| <= sqrt(21.1) * se(x), se(x)^2 = phi^T H^-1 phi.
TEST(Discriminator, LogisticRegressionLearnsTheLogDensityRatio) {
  const double m1 = 0.5, s1 = 1.0, m2 = -0.5, s2 = 1.5;
  const int64_t n = 20000;
  Generator gen(31);
  const Tensor x_data = m1 + s1 * randn({n}, gen, kF64), x_gen = m2 + s2 * randn({n}, gen, kF64);

  Tensor w0 = parameter(0.0), w1 = parameter(0.0), w2 = parameter(0.0);
  auto logit = [&](const Tensor& x) { return w0 + w1 * x + w2 * square(x); };
  auto loss = [&] { return mean(softplus(-logit(x_data))) + mean(softplus(logit(x_gen))); };
  gradient_descent(loss, {w0, w1, w2}, 0.5, 400, 0.5);
  ASSERT_LT(max_abs_gradient(loss, {w0, w1, w2}), 1e-10);

  // h*(x) = log(s2 / s1) - (x - m1)^2 / (2 s1^2) + (x - m2)^2 / (2 s2^2).
  const std::array<double, 3> w_star{std::log(s2 / s1) - m1 * m1 / (2 * s1 * s1) + m2 * m2 / (2 * s2 * s2),
                                     m1 / (s1 * s1) - m2 / (s2 * s2), -1 / (2 * s1 * s1) + 1 / (2 * s2 * s2)};
  const std::array<double, 3> w_fit{w0.item(), w1.item(), w2.item()};

  std::array<std::array<double, 3>, 3> hessian{};
  for (const Tensor& xs : {x_data, x_gen}) {
    const std::vector<double> xv = xs.to_vector<double>();
    for (double x : xv) {
      const double phi[3] = {1.0, x, x * x};
      const double s = 1.0 / (1.0 + std::exp(-(w_fit[0] + w_fit[1] * x + w_fit[2] * x * x)));
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j) hessian[i][j] += s * (1 - s) * phi[i] * phi[j];
    }
  }
  double mahalanobis = 0.0;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) mahalanobis += (w_fit[i] - w_star[i]) * hessian[i][j] * (w_fit[j] - w_star[j]);
  EXPECT_LT(mahalanobis, 21.1);

  const auto cov = inverse3(hessian);
  double worst_se = 0.0;
  for (double x = -2.0; x <= 2.0 + 1e-9; x += 0.1) {
    const double phi[3] = {1.0, x, x * x};
    double var = 0.0;
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) var += phi[i] * cov[i][j] * phi[j];
    const double se = std::sqrt(var);
    worst_se = std::max(worst_se, se);
    const double h_fit = w_fit[0] + w_fit[1] * x + w_fit[2] * x * x;
    const double h_true = w_star[0] + w_star[1] * x + w_star[2] * x * x;
    EXPECT_NEAR(h_fit, h_true, std::sqrt(21.1) * se) << "x = " << x;
  }
  EXPECT_LT(worst_se, 0.05) << "enough samples for the check to be sharp";
}

// 3.4: fitting one Gaussian q = N(mu, sigma^2) to the two-mode mixture
// p = (N(-3, 0.5^2) + N(3, 0.5^2)) / 2 by gradient descent, expectations by
// quadrature. Forward KL(p || q) (= the expected NLL minus H(p): maximum
// likelihood) matches moments, mu = 0, sigma^2 = 0.25 + 9, covering both
// modes and putting its peak where p has almost no mass. Reverse KL(q || p)
// (what a GAN generator minimises at D*, 3.3) locks onto the mode it starts
// near: mu = +-3, sigma = 0.5, at KL = log 2.
TEST(Discriminator, ForwardKlCoversBothModesReverseKlPicksOne) {
  const Grid g = grid(-12.0, 12.0, 4801);
  const Tensor log_p = log_add_exp(normal_log_density(g.x, -3.0, 0.5), normal_log_density(g.x, 3.0, 0.5)) - kLog2;
  const Tensor p = exp(log_p);

  Tensor mu = parameter(0.5), log_sigma = parameter(1.0);
  auto forward = [&] { return integrate(-p * normal_log_density(g.x, mu, log_sigma), g); };
  gradient_descent(forward, {mu, log_sigma}, 0.5, 300, 0.8);
  EXPECT_NEAR(mu.item(), 0.0, 1e-8);
  EXPECT_NEAR(std::exp(2 * log_sigma.item()), 9.25, 1e-8);
  const double q_at_0 = std::exp(normal_log_density(constant(0.0), mu, log_sigma).item());
  const double p_at_0 = std::exp(log_add_exp(normal_log_density(constant(0.0), -3.0, 0.5),
                                             normal_log_density(constant(0.0), 3.0, 0.5)).item() - kLog2);
  EXPECT_GT(q_at_0, 1e6 * p_at_0) << "the forward-KL fit puts mass in the gap between the modes";

  for (double start : {1.0, -0.5}) {
    Tensor m = parameter(start), ls = parameter(0.0);
    auto reverse = [&] {
      const Tensor log_q = normal_log_density(g.x, m, ls);
      return integrate(exp(log_q) * (log_q - log_p), g);
    };
    const double kl = gradient_descent(reverse, {m, ls}, 0.05, 600, 0.8);
    EXPECT_NEAR(m.item(), start > 0 ? 3.0 : -3.0, 1e-6) << "start " << start;
    EXPECT_NEAR(std::exp(ls.item()), 0.5, 1e-6) << "start " << start;
    // Not exactly log 2: q's far tail (x < 0, mass 1e-9) sees the other
    // mode, which lowers the optimum by about 3e-9.
    EXPECT_NEAR(kl, kLog2, 1e-8) << "start " << start;
  }
}
