// docs/theory.md section 1 (the VAE objective), checked numerically:
// the Gaussian KL in closed form, the two decoder likelihoods, what the
// decoder's sigma does, and what the KL term does to the optimum.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "tests/theory/theory_support.h"

using namespace ng;
using namespace theory;

// 1.2: KL(N(mu, exp(lv)) || N(0, I)) = 0.5 sum(exp(lv) + mu^2 - 1 - lv),
// against the Monte-Carlo mean of log q(z) - log p(z) over reparameterised
// samples z = mu + exp(lv / 2) eps. The MC estimate is unbiased, so the gap
// must lie within a few standard errors (4 SE: a 6e-5 two-sided chance for a
// normal mean; the seed is fixed, so the test is deterministic anyway).
TEST(VaeTheory, KlToStandardNormalMatchesMonteCarlo) {
  const Tensor mu = from_vector(std::vector<double>{0.5, -1.0, 0.0, 2.0}, {1, 4});
  const Tensor lv = from_vector(std::vector<double>{0.0, -1.5, 0.7, -0.3}, {1, 4});
  const double closed = (0.5 * sum(exp(lv) + square(mu) - 1.0 - lv)).item();

  Generator gen(1234);
  const int64_t n = 200000;
  const Tensor eps = randn({n, 4}, gen, kF64);
  const Tensor z = mu + exp(0.5 * lv) * eps;
  const Tensor log_q = sum(normal_log_density(z, mu, 0.5 * lv), {1});
  const Tensor log_p = sum(normal_log_density(z, 0.0, 1.0), {1});
  const Estimate mc = mean_and_se(log_q - log_p);

  EXPECT_NEAR(closed, 0.5 * ((1 + 0.25 - 1 - 0) + (std::exp(-1.5) + 1 - 1 + 1.5) +
                             (std::exp(0.7) - 1 - 0.7) + (std::exp(-0.3) + 4 - 1 + 0.3)),
              1e-12);
  EXPECT_LT(mc.se, 0.01) << "the Monte-Carlo check must be sharp enough to mean something";
  EXPECT_NEAR(mc.mean, closed, 4.0 * mc.se) << "closed form " << closed << ", MC " << mc.mean;
}

// 1.3: -log N(x; mu, sigma^2 I) = sum (x - mu)^2 / (2 sigma^2) + D log sigma
// + (D / 2) log 2 pi, against the log of the density written out directly,
// and its gradient in mu, (mu - x) / sigma^2 (scale 1 / sigma^2).
TEST(VaeTheory, GaussianReconstructionTermIsTheNegativeLogDensity) {
  Generator gen(7);
  const int64_t D = 50;
  const double sigma = 0.3;
  const Tensor x = rand({D}, gen, kF64);
  const Tensor mu = (0.2 + 0.6 * rand({D}, gen, kF64)).detach().requires_grad_();

  const Tensor formula = sum(square(x - mu)) / (2 * sigma * sigma) + double(D) * std::log(sigma) +
                         0.5 * double(D) * kLog2Pi;
  const Tensor density = exp(-square(x - mu) / (2 * sigma * sigma)) / std::sqrt(2 * std::numbers::pi * sigma * sigma);
  const Tensor direct = -sum(log(density));
  EXPECT_NEAR(formula.item(), direct.item(), 1e-11 * std::abs(direct.item()));

  const Tensor g = autograd::grad({formula}, {mu})[0];
  const std::vector<double> got = g.to_vector<double>();
  const std::vector<double> want = ((mu.detach() - x) / (sigma * sigma)).to_vector<double>();
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-12);
}

// 1.3: with one learned sigma shared by all D outputs, the loss
// S / (2 sigma^2) + D log sigma (S the summed squared error) is smallest at
// sigma^2 = S / D, the mean squared error, where it equals
// (D / 2) (1 + log MSE + log 2 pi). Found here by gradient descent on log sigma.
TEST(VaeTheory, LearnedSigmaSquaredEqualsTheMeanSquaredError) {
  Generator gen(11);
  const int64_t D = 200;
  const Tensor residual = 0.15 * randn({D}, gen, kF64);
  const double mse = mean(square(residual)).item();

  Tensor log_sigma = parameter(0.0);
  auto nll_per_dim = [&] {
    const Tensor nll = sum(square(residual)) * exp(-2.0 * log_sigma) / 2.0 + double(D) * log_sigma +
                       0.5 * double(D) * kLog2Pi;
    return nll / double(D);  // curvature 2 at the optimum: lr 0.25 is a safe step
  };
  const double loss = gradient_descent(nll_per_dim, {log_sigma}, 0.25, 300);

  EXPECT_NEAR(std::exp(2.0 * log_sigma.item()), mse, 1e-10);
  EXPECT_NEAR(loss, 0.5 * (1.0 + std::log(mse) + kLog2Pi), 1e-10);
}

// 1.4: the Bernoulli NLL from logits l, softplus(l) - x l, is the binary
// cross-entropy -[x log s + (1 - x) log(1 - s)] with s = sigmoid(l); its
// gradient is s - x (bounded by 1); and it stays finite where the direct
// form overflows.
TEST(VaeTheory, BceFromLogitsEqualsBinaryCrossEntropy) {
  Generator gen(3);
  const Tensor logits = (16.0 * rand({64}, gen, kF64) - 8.0).detach().requires_grad_();
  const Tensor x = rand({64}, gen, kF64);  // grey pixels, not only 0 / 1

  const Tensor from_logits = softplus(logits) - x * logits;
  const Tensor s = sigmoid(logits);
  const Tensor direct = -(x * log(s) + (1.0 - x) * log(1.0 - s));
  const std::vector<double> a = from_logits.to_vector<double>(), b = direct.to_vector<double>();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-12) << "element " << i;

  const std::vector<double> g = autograd::grad({sum(from_logits)}, {logits})[0].to_vector<double>();
  const std::vector<double> want = (s.detach() - x).to_vector<double>();
  for (size_t i = 0; i < g.size(); ++i) EXPECT_NEAR(g[i], want[i], 1e-12);

  // A confident wrong logit: 800 with x = 0.25. exp(800) overflows, so the
  // direct form computes log(1 - 1) = -inf; the softplus form gives 0.75 * 800.
  const Tensor big = scalar_tensor(800.0, kF64), quarter = scalar_tensor(0.25, kF64);
  EXPECT_NEAR((softplus(big) - quarter * big).item(), 600.0, 1e-9);
  EXPECT_TRUE(std::isinf((-(quarter * log(sigmoid(big)) + (1.0 - quarter) * log(1.0 - sigmoid(big)))).item()));
}

// 1.5: for a grey pixel x in (0, 1) the smallest Bernoulli NLL over logits is
// the binary entropy H(x) = -x log x - (1 - x) log(1 - x) > 0, reached at
// sigmoid(l) = x: the loss never reaches 0 on non-binary data.
TEST(VaeTheory, BceMinimumOverLogitsIsTheBinaryEntropyNotZero) {
  const std::vector<double> xs{0.05, 0.2, 0.5, 0.7, 0.95};
  const Tensor x = from_vector(xs, {5});
  Tensor logits = zeros({5}, kF64.with_requires_grad());
  auto loss = [&] { return sum(softplus(logits) - x * logits); };
  // The curvature is sigmoid'(l) <= 1/4, so lr 4 never overshoots.
  gradient_descent(loss, {logits}, 4.0, 2000);

  const std::vector<double> per_pixel = (softplus(logits) - x * logits).to_vector<double>();
  const std::vector<double> s = sigmoid(logits).to_vector<double>();
  for (size_t i = 0; i < xs.size(); ++i) {
    EXPECT_NEAR(s[i], xs[i], 1e-9);
    EXPECT_NEAR(per_pixel[i], binary_entropy(xs[i]), 1e-12) << "x = " << xs[i];
    EXPECT_GT(per_pixel[i], 0.19);  // far from 0: the floor is H(x)
  }
  EXPECT_NEAR(per_pixel[2], std::log(2.0), 1e-12);  // the worst case, x = 1/2
}

// 1.5: on continuous x in [0, 1] the Bernoulli "density" s^x (1 - s)^(1 - x)
// integrates to (2s - 1) / logit(s) <= 1/2, not 1: it is not a likelihood for
// continuous pixels (the continuous Bernoulli adds the missing normaliser).
TEST(VaeTheory, BernoulliLikelihoodIsNotADensityOnTheUnitInterval) {
  const Grid g = midpoints(0.0, 1.0, 20000);
  for (double s : {0.02, 0.3, 0.5, 0.8, 0.99}) {
    const double mass = integrate(exp(g.x * std::log(s) + (1.0 - g.x) * std::log(1.0 - s)), g).item();
    const double want = s == 0.5 ? 0.5 : (2 * s - 1) / std::log(s / (1 - s));
    EXPECT_NEAR(mass, want, 1e-8) << "s = " << s;
    EXPECT_LE(mass, 0.5 + 1e-12);
  }
}

// 1.6: a linear-Gaussian model p(z) = N(0, 1), p(x | z) = N(z, sigma^2) with
// q(z | x) = N(m, v). With the expectation in closed form,
// E_q (x - z)^2 = (x - m)^2 + v, the beta-weighted loss is
//   ((x - m)^2 + v) / (2 sigma^2) + log sigma + log(2 pi) / 2
//     + beta * 0.5 (v + m^2 - 1 - log v).
// Its minimiser is m = x / (1 + beta sigma^2), v = beta sigma^2 / (1 + beta sigma^2):
// beta = 1 gives the exact posterior and the bound equals -log p(x); larger
// beta pulls q toward the prior N(0, 1) and lowers the rate KL(q || p).
TEST(VaeTheory, BetaOneRecoversTheExactPosteriorLargerBetaMovesToThePrior) {
  const double x = 1.3, sigma2 = 0.5;
  double previous_rate = INFINITY;
  for (double beta : {1.0, 4.0, 16.0}) {
    Tensor m = parameter(0.0), log_v = parameter(0.0);
    auto loss = [&] {
      const Tensor v = exp(log_v);
      const Tensor distortion = (square(x - m) + v) / (2 * sigma2) + 0.5 * std::log(sigma2) + 0.5 * kLog2Pi;
      const Tensor rate = 0.5 * (v + square(m) - 1.0 - log_v);
      return distortion + beta * rate;
    };
    // The curvature in m is 1 / sigma^2 + beta: scale the step by its inverse.
    const double value = gradient_descent(loss, {m, log_v}, 0.5 * sigma2 / (1 + beta * sigma2), 2000);
    EXPECT_LT(max_abs_gradient(loss, {m, log_v}), 1e-10);

    const double v = std::exp(log_v.item());
    EXPECT_NEAR(m.item(), x / (1 + beta * sigma2), 1e-9) << "beta " << beta;
    EXPECT_NEAR(v, beta * sigma2 / (1 + beta * sigma2), 1e-9) << "beta " << beta;
    const double rate = 0.5 * (v + m.item() * m.item() - 1 - std::log(v));
    EXPECT_LT(rate, previous_rate);
    previous_rate = rate;
    if (beta == 1.0) {
      // The bound is tight: -ELBO = -log p(x) with p(x) = N(0, 1 + sigma^2).
      const double neg_log_px = 0.5 * x * x / (1 + sigma2) + 0.5 * std::log(1 + sigma2) + 0.5 * kLog2Pi;
      EXPECT_NEAR(value, neg_log_px, 1e-10);
    }
  }
}

// 1.6: posterior collapse. Data x ~ N(0, s^2); decoder N(w z, sigma^2) with w
// learned; encoder q(z | x) = N(a x, v). Averaged over the data in closed form
// the beta-loss is
//   [s^2 (1 - w a)^2 + w^2 v] / (2 sigma^2) + beta * 0.5 (v + a^2 s^2 - 1 - log v),
// whose optimum has w^2 = s^2 - beta sigma^2 and rate 0.5 log(s^2 / (beta sigma^2))
// while beta < s^2 / sigma^2, and w = 0, q = N(0, 1), rate 0 beyond:
// the latent is ignored.
TEST(VaeTheory, RateShrinksWithBetaAndCollapsesPastTheThreshold) {
  const double s2 = 1.0, sigma2 = 0.1;  // collapse threshold beta* = s2 / sigma2 = 10
  for (double beta : {0.5, 2.0, 5.0, 20.0, 40.0}) {
    Tensor w = parameter(0.5), a = parameter(0.5), log_v = parameter(0.0);
    auto loss = [&] {
      const Tensor v = exp(log_v);
      const Tensor distortion = (s2 * square(1.0 - w * a) + square(w) * v) / (2 * sigma2);
      const Tensor rate = 0.5 * (v + square(a) * s2 - 1.0 - log_v);
      return sigma2 * (distortion + beta * rate);  // scaled by sigma2 for a well-sized step
    };
    // w and a trade off through their product (a long, shallow valley):
    // momentum gets along it in a few thousand steps.
    gradient_descent(loss, {w, a, log_v}, 0.05, 4000, 0.9);
    EXPECT_LT(max_abs_gradient(loss, {w, a, log_v}), 1e-7) << "beta " << beta;

    const double v = std::exp(log_v.item());
    const double rate = 0.5 * (v + a.item() * a.item() * s2 - 1 - std::log(v));
    const double expected_rate = std::max(0.0, 0.5 * std::log(s2 / (beta * sigma2)));
    const double expected_w2 = std::max(0.0, s2 - beta * sigma2);
    EXPECT_NEAR(rate, expected_rate, 1e-6) << "beta " << beta;
    EXPECT_NEAR(w.item() * w.item(), expected_w2, 1e-6) << "beta " << beta;
    if (beta > s2 / sigma2) {
      EXPECT_NEAR(v, 1.0, 1e-6) << "collapsed: q(z | x) is the prior";
    }
  }
}

// 1.1: the reconstruction term E_q[log p(x | z)] estimated from L
// reparameterised samples z^(l) = m + sqrt(v) eps^(l),
// (1 / L) sum_l log p(x | z^(l)), is unbiased, its variance is Var / L, and
// its autograd derivative in m is unbiased for the derivative of the exact
// term. Model: p(x | z) = N(x; w z, sigma^2), q(z | x) = N(m, v), where
// u = x - w z ~ N(x - w m, w^2 v), so
//   E_q log p = -((x - w m)^2 + w^2 v) / (2 sigma^2) - log sigma - log(2 pi) / 2,
//   Var log p = Var(u^2) / (4 sigma^4) = (2 w^4 v^2 + 4 (x - w m)^2 w^2 v) / (4 sigma^4),
//   d/dm E_q log p = w (x - w m) / sigma^2, and the one-sample derivative
//   w u / sigma^2 has variance w^4 v / sigma^4.
// R = 20000 repetitions for each L; each check holds to 4 standard errors.
TEST(VaeTheory, SampledReconstructionTermIsUnbiasedWithVarianceOverL) {
  const double x = 1.3, w = 0.8, sigma = 0.5, m0 = 0.6, v = 0.09;
  const double exact = -((x - w * m0) * (x - w * m0) + w * w * v) / (2 * sigma * sigma) - std::log(sigma) -
                       0.5 * kLog2Pi;
  const double var_one = (2 * std::pow(w, 4) * v * v + 4 * (x - w * m0) * (x - w * m0) * w * w * v) /
                         (4 * std::pow(sigma, 4));
  const double grad_exact = w * (x - w * m0) / (sigma * sigma);
  const double grad_var_one = std::pow(w, 4) * v / std::pow(sigma, 4);
  const int64_t R = 20000;
  Generator gen(31);
  for (int64_t L : {1, 16}) {
    const Tensor m = parameter(m0);
    const Tensor z = m + std::sqrt(v) * randn({R, L}, gen, kF64);
    const Tensor estimates = mean(normal_log_density(constant(x), w * z, constant(std::log(sigma))), {1});  // [R]
    const Estimate e = mean_and_se(estimates.detach());
    const Estimate var = variance_and_se(estimates.detach());
    EXPECT_NEAR(e.mean, exact, 4 * e.se) << "L = " << L;
    EXPECT_NEAR(var.mean, var_one / double(L), 4 * var.se) << "L = " << L;
    EXPECT_LT(e.se, 0.01) << "L = " << L;
    // d/dm of the mean over the R estimates: the average pathwise derivative.
    const double grad = autograd::grad({mean(estimates)}, {m})[0].item();
    EXPECT_NEAR(grad, grad_exact, 4 * std::sqrt(grad_var_one / double(R * L))) << "L = " << L;
  }
}

// 1.6: averaged over the data, the rate is the mutual information plus the
// KL from the aggregate posterior to the prior:
//   E_x KL(q(z | x) || p(z)) = I_q(x; z) + KL(q(z) || p(z)),  q(z) = E_x q(z | x).
// Data: three points with probabilities 0.5, 0.3, 0.2; the encoder is a table
// of Gaussians. The left side is in closed form; I_q = E_x KL(q(z | x) || q(z))
// and KL(q(z) || p(z)) come from quadrature on a grid (spacing 1e-3, where the
// trapezoid rule is exact to rounding for these smooth, vanishing integrands).
// Numbers: 1.01169 = 0.73184 + 0.27985, and I_q is below H(x) = 1.02965.
TEST(VaeTheory, ExpectedRateIsMutualInformationPlusAggregateKl) {
  const std::vector<double> weight{0.5, 0.3, 0.2}, mu{-1.2, 0.1, 0.9}, sd{0.3, 0.5, 0.4};
  double rate = 0.0, entropy_x = 0.0;
  for (size_t k = 0; k < weight.size(); ++k) {
    rate += weight[k] * gaussian_kl(mu[k], sd[k], 0.0, 1.0);
    entropy_x -= weight[k] * std::log(weight[k]);
  }
  const Grid g = grid(-8.0, 8.0, 16001);
  std::vector<Tensor> log_q;
  Tensor q_agg = zeros_like(g.x);
  for (size_t k = 0; k < weight.size(); ++k) {
    log_q.push_back(normal_log_density(g.x, mu[k], sd[k]));
    q_agg = q_agg + weight[k] * exp(log_q.back());
  }
  const Tensor log_agg = log(q_agg);
  double info = 0.0;
  for (size_t k = 0; k < weight.size(); ++k) info += weight[k] * integrate(exp(log_q[k]) * (log_q[k] - log_agg), g).item();
  const double kl_agg = integrate(q_agg * (log_agg - normal_log_density(g.x, 0.0, 1.0)), g).item();

  EXPECT_NEAR(rate, info + kl_agg, 1e-10);
  EXPECT_NEAR(rate, 1.01169, 1e-5);
  EXPECT_NEAR(info, 0.73184, 1e-5);
  EXPECT_NEAR(kl_agg, 0.27985, 1e-5);
  EXPECT_GT(kl_agg, 0.1) << "the gap between the rate and the information is not negligible here";
  EXPECT_LT(info, entropy_x);  // a code cannot carry more than the data's entropy
}
