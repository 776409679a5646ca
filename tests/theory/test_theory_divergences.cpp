// docs/theory.md section 2: KL, Jensen-Shannon and earth-mover (Wasserstein-1)
// distances between distributions whose supports do not overlap, and what
// each gives a generator as a gradient.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "tests/theory/theory_support.h"

using namespace ng;
using namespace theory;

namespace {

const double kLog2 = std::log(2.0);

// JSD(P, Q) = KL(P || M) / 2 + KL(Q || M) / 2 with M = (P + Q) / 2, for two
// probability vectors (histograms) or two densities on a grid (times dx).
double jsd(const Tensor& p, const Tensor& q, double dx = 1.0) {
  const Tensor m = 0.5 * (p + q);
  return 0.5 * dx * (sum(kl_terms(p, m)) + sum(kl_terms(q, m))).item();
}
double kl(const Tensor& p, const Tensor& q, double dx = 1.0) { return dx * sum(kl_terms(p, q)).item(); }

// A 2-D histogram over [-1.005, 1.005) x [0, 1): 201 columns of width 0.01
// (x = 0 sits in the middle of one) and 10 rows, normalised to sum to 1.
Tensor histogram_2d(const std::vector<double>& xs, const std::vector<double>& ys) {
  const int64_t cols = 201, rows = 10;
  std::vector<double> counts(size_t(cols * rows), 0.0);
  for (size_t i = 0; i < xs.size(); ++i) {
    const int64_t c = int64_t(std::floor((xs[i] + 1.005) / 0.01));
    const int64_t r = int64_t(std::floor(ys[i] * double(rows)));
    counts[size_t(c * rows + r)] += 1.0 / double(xs.size());
  }
  return from_vector(counts, {cols * rows});
}

// The parallel lines: P is the law of (0, Z) and Q_theta of (theta, Z), Z ~ U(0, 1).
struct ParallelLines {
  std::vector<double> z_p, z_q;  // the heights of independent samples of P and Q
  explicit ParallelLines(int64_t n) {
    Generator gen(2024);
    z_p = rand({n}, gen, kF64).to_vector<double>();
    z_q = rand({n}, gen, kF64).to_vector<double>();
  }
  double jsd_at(double theta) const {
    const std::vector<double> x_p(z_p.size(), 0.0), x_q(z_q.size(), theta);
    return jsd(histogram_2d(x_p, z_p), histogram_2d(x_q, z_q));
  }
  double kl_at(double theta) const {
    const std::vector<double> x_p(z_p.size(), 0.0), x_q(z_q.size(), theta);
    return kl(histogram_2d(x_p, z_p), histogram_2d(x_q, z_q));
  }
};

}  // namespace

// 2.2: for theta != 0 the two lines do not meet: both KLs are infinite and
// JSD = log 2 whatever theta is (so its derivative in theta is 0); at
// theta = 0 the distributions agree and the JSD drops to (about) 0: a jump.
TEST(Divergences, ParallelLinesJsdIsLog2AndKlInfinite) {
  const ParallelLines lines(20000);
  for (double theta : {0.5, -0.3, 0.05, 0.9}) {
    EXPECT_NEAR(lines.jsd_at(theta), kLog2, 1e-12) << "theta " << theta;
    EXPECT_TRUE(std::isinf(lines.kl_at(theta))) << "theta " << theta;
  }
  // At theta = 0 only sampling noise separates the two histograms: for two
  // samples of size n of one distribution over K = 10 occupied cells the
  // plug-in JSD is about sum (p - q)^2 / (8 m), on average (K - 1) / (4 n) = 1.1e-4.
  EXPECT_LT(lines.jsd_at(0.0), 5e-4);
  // The finite difference of the JSD away from 0 is exactly 0: no signal.
  const double h = 0.02;
  EXPECT_EQ(lines.jsd_at(0.5 + h) - lines.jsd_at(0.5 - h), 0.0);
}

// 2.4: blurring both lines with N(0, s^2) noise in x gives densities that
// overlap. Then KL = theta^2 / (2 s^2) (finite, but it blows up as s -> 0),
// JSD -> log 2, and the JSD's derivative in theta (by autograd through the
// quadrature) dies out as the noise shrinks.
TEST(Divergences, BlurredParallelLinesKlGrowsAsNoiseShrinksAndJsdGradientDies) {
  const double theta0 = 0.5;
  const Grid g = grid(-2.0, 2.5, 45001);
  double previous_gradient = INFINITY;
  for (double s : {0.3, 0.1, 0.05, 0.03}) {
    const Tensor theta = parameter(theta0);
    const Tensor log_p = normal_log_density(g.x, 0.0, s);
    const Tensor log_q = normal_log_density(g.x, theta, constant(std::log(s)));
    const double kl_pq = integrate(exp(log_p) * (log_p - log_q), g).item();
    EXPECT_NEAR(kl_pq, theta0 * theta0 / (2 * s * s), 1e-8 * theta0 * theta0 / (s * s)) << "s " << s;

    const Tensor log_m = log_add_exp(log_p, log_q) - kLog2;
    const Tensor js = 0.5 * integrate(exp(log_p) * (log_p - log_m) + exp(log_q) * (log_q - log_m), g);
    const double gradient = autograd::grad({js}, {theta})[0].item();
    EXPECT_GT(js.item(), 0.0);
    EXPECT_LT(js.item(), kLog2);
    EXPECT_LT(gradient, previous_gradient) << "s " << s;
    previous_gradient = gradient;
    if (s == 0.03) {
      EXPECT_NEAR(js.item(), kLog2, 1e-10);
      EXPECT_LT(gradient, 1e-10);
    }
  }
}

// 2.2: the earth-mover distance between the parallel lines is |theta|. In one
// dimension optimal transport pairs sorted samples; here only the heights
// differ in order, and the cost sqrt(theta^2 + d^2) is convex in the height
// gap d, so pairing the sorted heights is an optimal plan for the two
// samples. Its autograd derivative in theta is about sign(theta), at every
// theta != 0. The sampling error: the gaps d_i have E d^2 ~ 1 / (3 n), so the
// estimate exceeds |theta| by about E d^2 / (2 |theta|) < 1e-3 here.
TEST(Divergences, ParallelLinesEarthMoverIsAbsThetaWithGradientSignTheta) {
  const int64_t n = 4096;
  const ParallelLines lines(n);
  std::vector<double> zp = lines.z_p, zq = lines.z_q;
  std::sort(zp.begin(), zp.end());
  std::sort(zq.begin(), zq.end());
  const Tensor gap = from_vector(zp, {n}) - from_vector(zq, {n});

  for (double theta0 : {-0.7, -0.2, 0.3, 1.0}) {
    const Tensor theta = parameter(theta0);
    const Tensor em = mean(sqrt(square(theta) + square(gap)));
    const double d_em = autograd::grad({em}, {theta})[0].item();
    EXPECT_NEAR(em.item(), std::abs(theta0), 1e-3) << "theta " << theta0;
    EXPECT_NEAR(d_em, theta0 > 0 ? 1.0 : -1.0, 5e-3) << "theta " << theta0;
  }
}

// 2.3: P = U(0, 1), Q_theta = U(theta, theta + 1) on the line. The supports
// overlap for |theta| < 1, so JSD = min(|theta|, 1) log 2 (by quadrature on
// midpoints, exact here because the jumps fall on cell edges), KL is infinite
// for every theta != 0, and for |theta| > 1 the JSD is flat: finite
// differences give exactly 0. W = |theta| from sorted samples (the sort
// order of theta + u does not depend on theta), with derivative sign(theta)
// exactly once |theta| exceeds the largest gap between the sorted samples.
TEST(Divergences, ShiftedUniformsJsdSaturatesWhileEarthMoverKeepsGrowing) {
  const Grid g = midpoints(-3.0, 4.0, 7000);  // cells of 1e-3
  auto uniform_on = [&](double a) { return ge(g.x, constant(a)) * lt(g.x, constant(a + 1.0)); };
  const Tensor p = uniform_on(0.0);
  auto jsd_at = [&](double theta) { return jsd(p, uniform_on(theta), g.dx); };

  for (double theta : {0.0, 0.25, 0.5, -0.5, 0.75, 1.5, 2.5, -2.0}) {
    EXPECT_NEAR(jsd_at(theta), std::min(std::abs(theta), 1.0) * kLog2, 1e-9) << "theta " << theta;
    if (theta != 0.0) {
      EXPECT_TRUE(std::isinf(kl(p, uniform_on(theta), g.dx))) << "theta " << theta;
    }
  }
  const double h = 0.05;
  EXPECT_NEAR((jsd_at(0.5 + h) - jsd_at(0.5 - h)) / (2 * h), kLog2, 1e-9);
  EXPECT_NEAR((jsd_at(h) - jsd_at(-h)) / (2 * h), 0.0, 1e-9);  // the kink at 0
  for (double theta : {1.5, 2.5, -2.0}) EXPECT_EQ(jsd_at(theta + h) - jsd_at(theta - h), 0.0);

  const int64_t n = 20000;
  Generator gen(99);
  const std::vector<double> x = sorted_values(rand({n}, gen, kF64));
  const std::vector<double> u = sorted_values(rand({n}, gen, kF64));
  const Tensor xs = from_vector(x, {n}), us = from_vector(u, {n});
  const double max_gap = max(abs(xs - us)).item();
  ASSERT_LT(max_gap, 0.02);
  for (double theta0 : {0.25, 0.5, 1.5, 2.5, -0.5, -2.0}) {
    const Tensor theta = parameter(theta0);
    const Tensor em = mean(abs(xs - (theta + us)));
    EXPECT_NEAR(em.item(), std::abs(theta0), max_gap) << "theta " << theta0;
    EXPECT_NEAR(autograd::grad({em}, {theta})[0].item(), theta0 > 0 ? 1.0 : -1.0, 1e-12);
  }
}

// 2.3: the JSD of the shifted uniforms, min(|theta|, 1) log 2, has a kink at
// 0: its one-sided slopes there are +log 2 from the right and -log 2 from the
// left, for every step h (the function is exactly linear on each side), while
// W_1 = |theta| has one-sided slopes +1 and -1. The shifts are whole numbers
// of grid cells, so the quadrature is exact up to rounding (1e-13 / h).
TEST(Divergences, ShiftedUniformsJsdHasAKinkAtZero) {
  const Grid g = midpoints(-3.0, 4.0, 7000);  // cells of 1e-3
  auto uniform_on = [&](double a) { return ge(g.x, constant(a)) * lt(g.x, constant(a + 1.0)); };
  const Tensor p = uniform_on(0.0);
  auto jsd_at = [&](double theta) { return jsd(p, uniform_on(theta), g.dx); };
  const double at_zero = jsd_at(0.0);
  EXPECT_NEAR(at_zero, 0.0, 1e-15);
  for (double h : {0.2, 0.05, 0.01, 0.002}) {
    const double right = (jsd_at(h) - at_zero) / h, left = (at_zero - jsd_at(-h)) / h;
    EXPECT_NEAR(right, kLog2, 1e-9) << "h " << h;
    EXPECT_NEAR(left, -kLog2, 1e-9) << "h " << h;
  }
  // The same for the sample earth-mover distance (2.3): one-sided autograd
  // derivatives just right and left of 0 are +1 and -1 once |theta| exceeds
  // the largest sorted-sample gap, and the central difference at 0 hides the kink.
  const int64_t n = 20000;
  Generator gen(99);
  const Tensor xs = from_vector(sorted_values(rand({n}, gen, kF64)), {n});
  const Tensor us = from_vector(sorted_values(rand({n}, gen, kF64)), {n});
  const double max_gap = max(abs(xs - us)).item();
  for (double theta0 : {2 * max_gap, -2 * max_gap}) {
    const Tensor theta = parameter(theta0);
    const Tensor em = mean(abs(xs - (theta + us)));
    EXPECT_NEAR(autograd::grad({em}, {theta})[0].item(), theta0 > 0 ? 1.0 : -1.0, 1e-12);
  }
}

// 2.4: the slope of the blurred lines' JSD at theta = 0.5, for blur s.
// Differentiating JSD = (KL(P || M) + KL(Q || M)) / 2 in theta leaves
// (1/2) int dq/dtheta log(q / m) dx (the terms from m cancel), with
// dq/dtheta = q (x - theta) / s^2. Since int dq/dtheta dx = 0, log 2 may be
// subtracted from the log: log(q / (2m)) = -softplus(log p - log q), so
//   dJSD/dtheta = -(1/2) int q (x - theta) / s^2 softplus(log p - log q) dx,
// an integrand that lives only where the two overlap (no cancellation, so it
// is accurate even at 1e-14). Autograd through the quadrature of the JSD must
// agree with it, and both with the values quoted in the doc:
// 0.7786, 0.2369, 4.464e-5 and 1.709e-14 for s = 0.3, 0.1, 0.05, 0.03.
TEST(Divergences, BlurredParallelLinesJsdSlopesMatchTheStatedValues) {
  const double theta0 = 0.5;
  const Grid g = grid(-2.0, 2.5, 45001);
  const std::vector<double> blur{0.3, 0.1, 0.05, 0.03}, stated{0.7786, 0.2369, 4.464e-5, 1.709e-14};
  const std::vector<double> half_unit{5e-5, 5e-5, 5e-9, 5e-18};
  for (size_t i = 0; i < blur.size(); ++i) {
    const double s = blur[i];
    const Tensor log_p = normal_log_density(g.x, 0.0, s);
    const Tensor log_q = normal_log_density(g.x, theta0, s);
    const double formula =
        -0.5 * integrate(exp(log_q) * (g.x - theta0) / (s * s) * softplus(log_p - log_q), g).item();
    // Rounding of the quoted value: half a unit in its last digit.
    EXPECT_NEAR(formula, stated[i], half_unit[i]) << "s " << s;

    const Tensor theta = parameter(theta0);
    const Tensor log_q_theta = normal_log_density(g.x, theta, constant(std::log(s)));
    const Tensor log_m = log_add_exp(log_p, log_q_theta) - kLog2;
    const Tensor js = 0.5 * integrate(exp(log_p) * (log_p - log_m) + exp(log_q_theta) * (log_q_theta - log_m), g);
    const double slope = autograd::grad({js}, {theta})[0].item();
    // Autograd sums terms of size up to 1 / s to a small total: its rounding is ~1e-13.
    EXPECT_NEAR(slope, formula, 1e-8 * formula + 1e-12) << "s " << s;
  }
}
