// The importance-weighted bound of a VAE on 8-bit images (models/vae_bound.h),
// against the same quantities computed by hand from the model's pieces, and
// against the exact log p(x) of a one-dimensional latent by quadrature.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <random>
#include <vector>

#include "engine/nanogen.h"
#include "models/vae.h"
#include "models/vae_bound.h"
#include "support/gradcheck.h"

using namespace ng;
using models::VAE;
using models::VAEConfig;

namespace {

const double kLog2Pi = std::log(2.0 * std::numbers::pi);

// A VAE of 4x4 one-channel images with narrow layers: quick, and its latent
// can be one-dimensional.
VAEConfig tiny_config(int64_t z_dim, models::Likelihood likelihood = models::Likelihood::gaussian_learned) {
  VAEConfig c;
  c.height = c.width = 4;
  c.z_dim = z_dim;
  c.hidden = 8;
  c.conv1 = 3;
  c.conv2 = 4;
  c.likelihood = likelihood;
  c.sigma = 0.2;
  return c;
}

// Images of n x 16 levels k/255 (both ends included), from a fixed seed.
Tensor grid_images(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> level(0, 255);
  std::vector<float> v(size_t(n * 16));
  for (float& x : v) x = float(level(rng)) / 255.0f;
  v[0] = 0.0f;
  v[1] = 1.0f;
  return from_vector(v, {n, 1, 4, 4});
}

// log P(x) of N(mean, sigma^2) on the bin [x - 1/510, x + 1/510] of [0,1],
// widened at 0 and 1: from erfc, with the tail on the far side of the mean
// (so neither difference cancels), written independently of log_ndtr.
double hand_log_bin(double x, double mean, double sigma) {
  const double h = 0.5 / 255.0;
  const double a = x <= 0 ? -INFINITY : (x - h - mean) / sigma, b = x >= 1 ? INFINITY : (x + h - mean) / sigma;
  auto lower = [](double t) { return 0.5 * std::erfc(-t / std::numbers::sqrt2); };  // Phi(t)
  auto upper = [](double t) { return 0.5 * std::erfc(t / std::numbers::sqrt2); };   // 1 - Phi(t)
  return std::log(a > 0 ? upper(a) - upper(b) : lower(b) - lower(a));
}

// sum over pixels of hand_log_bin for image i of x and row r of decoded.
double hand_log_likelihood(const std::vector<double>& x, int64_t i, const std::vector<double>& mean, int64_t r,
                           double sigma) {
  double s = 0;
  for (int64_t p = 0; p < 16; ++p) s += hand_log_bin(x[size_t(i * 16 + p)], mean[size_t(r * 16 + p)], sigma);
  return s;
}

// log w by hand: log p(x|z) + log N(z; 0, I) - log N(z; mu, diag(exp(logvar))),
// eps [N, K, z] on the CPU.
std::vector<double> hand_log_weights(const VAE& model, const Tensor& x, const Tensor& eps) {
  NoGradGuard no_grad;
  const int64_t n = eps.size(0), K = eps.size(1), zd = eps.size(2);
  const auto [mu_t, lv_t] = model.encode(x);
  const std::vector<double> mu = mu_t.to_vector<double>(), lv = lv_t.to_vector<double>(),
                            e = eps.to_vector<double>(), xs = x.to_vector<double>();
  std::vector<double> z(size_t(n * K * zd)), out;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t j = 0; j < zd; ++j) {
        const size_t r = size_t((i * K + k) * zd + j), q = size_t(i * zd + j);
        z[r] = mu[q] + std::exp(0.5 * lv[q]) * e[r];
      }
  const std::vector<double> mean = model.decode(from_vector(z, {n * K, zd}).to(DType::f32)).to_vector<double>();
  const double sigma = std::exp(model.log_sigma.item());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < K; ++k) {
      double lw = hand_log_likelihood(xs, i, mean, i * K + k, sigma);
      for (int64_t j = 0; j < zd; ++j) {
        const size_t r = size_t((i * K + k) * zd + j), q = size_t(i * zd + j);
        lw += (-0.5 * z[r] * z[r] - 0.5 * kLog2Pi) - (-0.5 * e[r] * e[r] - 0.5 * lv[q] - 0.5 * kLog2Pi);
      }
      out.push_back(lw);
    }
  return out;
}

}  // namespace

TEST(VAEBound, LogWeightsMatchAHandComputationForAFixedNoise) {
  Generator init(1);
  VAE model(tiny_config(2), init);
  {
    NoGradGuard no_grad;
    model.log_sigma.fill_(std::log(0.15));  // a learned sigma other than the initial one
  }
  const Tensor x = grid_images(3, 1);
  const Tensor eps = test::uniform({3, 5, 2}, 2, -2.0, 2.0, DType::f32);
  const std::vector<double> got = models::log_importance_weights(model, x, eps);
  const std::vector<double> want = hand_log_weights(model, x, eps);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-3) << "weight " << i;
}

TEST(VAEBound, WithOneSampleTheBoundIsTheSingleSampleELBO) {
  Generator init(3);
  VAE model(tiny_config(2, models::Likelihood::gaussian_fixed), init);
  const Tensor x = grid_images(6, 3);
  // The noise the bound draws, replayed: K = 1 sample per image.
  Generator replay(11);
  const Tensor eps = randn({6, 1, 2}, replay);
  const std::vector<double> lw = hand_log_weights(model, x, eps);
  double mean = 0;
  for (double v : lw) mean += v / 6.0;
  Generator gen(11);
  const models::IWBound b = models::importance_weighted_bound(model, x, 1, gen, 2);  // 2 images a call
  EXPECT_EQ(b.images, 6);
  EXPECT_EQ(b.samples, 1);
  EXPECT_NEAR(b.nats_per_image, -mean, 1e-3);
  EXPECT_NEAR(b.bits_per_dim, b.nats_per_image / (16 * std::numbers::ln2), 1e-12);
}

TEST(VAEBound, TheSingleSampleELBOAveragesToTheModelsELBO) {
  // The model's loss has a continuous Gaussian recon term and the analytic KL.
  // For an interior pixel the bin of width w = 1/255 has the mass
  //   w N(x; m, s^2) (1 + w^2/24 ((x - m)^2 - s^2) / s^4 + O(w^4)),
  // so log P = -recon - 16 log 255 + the sum of the log(1 + ...) terms. And
  // log p(z) - log q(z|x) averages to -KL over the noise.
  NoGradGuard no_grad;
  Generator init(2);
  VAE model(tiny_config(2), init);
  model.log_sigma.fill_(std::log(0.08));
  std::vector<float> v(16);
  for (size_t p = 0; p < 16; ++p) v[p] = float(10 + 15 * p) / 255.0f;
  const Tensor x = from_vector(v, {1, 1, 4, 4});
  const int64_t K = 20000;
  Generator gen(5);
  const Tensor eps = randn({1, K, 2}, gen);
  const models::ELBOTerms terms = model.loss(x, eps.select(1, 0));
  const auto [mu, logvar] = model.encode(x);
  const Tensor z = (mu.unsqueeze(1) + exp(logvar * 0.5).unsqueeze(1) * eps).reshape({K, 2});
  const Tensor decoded = model.decode(z);
  const std::vector<double> log_px = models::discretized_log_likelihood(model, x, decoded);
  const std::vector<double> m = decoded.narrow(0, 0, 1).to_vector<double>();
  const double s2 = std::exp(2 * model.log_sigma.item()), w = 1.0 / 255.0;
  double correction = 0;
  for (size_t p = 0; p < 16; ++p)
    correction += std::log1p(w * w / 24.0 * ((v[p] - m[p]) * (v[p] - m[p]) - s2) / (s2 * s2));
  EXPECT_GT(std::fabs(correction), 1e-2);  // large enough to matter here
  EXPECT_NEAR(log_px[0], -terms.recon.item() - 16 * std::log(255.0) + correction, 2e-4);

  const std::vector<double> lw = models::log_importance_weights(model, x, eps);
  double mean = 0, sq = 0;
  for (int64_t k = 0; k < K; ++k) mean += (lw[size_t(k)] - log_px[size_t(k)]) / double(K);
  for (int64_t k = 0; k < K; ++k) sq += std::pow(lw[size_t(k)] - log_px[size_t(k)] - mean, 2);
  const double std_error = std::sqrt(sq / double(K - 1) / double(K));
  EXPECT_NEAR(mean, -terms.kl.item(), 4 * std_error) << "std error " << std_error;
}

TEST(VAEBound, ApproachesTheExactLikelihoodOfAOneDimensionalLatent) {
  // With z_dim = 1, log p(x) = log integral p(x|z) N(z; 0, 1) dz is a
  // quadrature. A decoder whose first layer is scaled up by 10, with sigma
  // 0.05, depends strongly on z: the posterior is narrow (sd 0.24 about 0.80)
  // and far from the untrained encoder's q (about N(0.02, 1.06^2)), so the
  // ELBO is several nats below log p(x) and the bound must climb with K.
  NoGradGuard no_grad;
  Generator init(5);
  VAE model(tiny_config(1), init);
  for (auto& [name, p] : model.named_parameters())
    if (name == "dec.0.weight") p.copy_(p * 10.0);
  model.log_sigma.fill_(std::log(0.05));
  // An image the decoder could have made: its mean at z = 0.8, rounded to the grid.
  std::vector<float> v;
  for (double p : model.generate(full({1, 1}, 0.8)).to_vector<double>())
    v.push_back(float(std::round(p * 255.0) / 255.0));
  const Tensor x = from_vector(v, {1, 1, 4, 4});
  const std::vector<double> xs = x.to_vector<double>();

  // The quadrature: a Riemann sum on 20001 points of [-10, 10] (the
  // integrand is smooth and negligible outside), summed with log-sum-exp.
  const int64_t G = 20001;
  const double dz = 20.0 / double(G - 1);
  const Tensor zs = linspace(-10.0, 10.0, G).reshape({G, 1});
  const std::vector<double> zv = zs.to_vector<double>(), mean = model.decode(zs).to_vector<double>();
  const double sigma = std::exp(model.log_sigma.item());
  std::vector<double> log_joint;
  for (int64_t g = 0; g < G; ++g)
    log_joint.push_back(hand_log_likelihood(xs, 0, mean, g, sigma) - 0.5 * zv[size_t(g)] * zv[size_t(g)] -
                        0.5 * kLog2Pi);
  const double top = *std::max_element(log_joint.begin(), log_joint.end());
  double s = 0, s1 = 0, s2 = 0;
  for (int64_t g = 0; g < G; ++g) {
    const double w = std::exp(log_joint[size_t(g)] - top);
    s += w;
    s1 += w * zv[size_t(g)];
    s2 += w * zv[size_t(g)] * zv[size_t(g)];
  }
  const double exact = top + std::log(s * dz);
  const double post_mean = s1 / s, post_sd = std::sqrt(s2 / s - post_mean * post_mean);
  ASSERT_NEAR(post_mean, 0.80, 0.05);
  ASSERT_NEAR(post_sd, 0.24, 0.02);

  // The bound for K = 1, 16, 256 on 1000 copies of the image: the copies'
  // spread is pure Monte Carlo noise, and nats_std_error its standard error.
  const Tensor copies = x.expand({1000, 1, 4, 4}).contiguous();
  std::vector<double> bound, se;
  for (int64_t K : {1, 16, 256}) {
    Generator gen(100 + uint64_t(K));
    const models::IWBound b = models::importance_weighted_bound(model, copies, K, gen, 8192);
    bound.push_back(-b.nats_per_image);
    se.push_back(b.nats_std_error);
    // Below log p(x), up to 3 standard errors of noise.
    EXPECT_LT(bound.back(), exact + 3 * se.back()) << "K = " << K;
  }
  // Measured: -58.12 (se 0.17), -54.02 (0.020), -53.8637 (0.0036) against -53.8634.
  EXPECT_GT(exact - bound[0], 2.0);  // the ELBO is far below
  for (size_t i = 1; i < 3; ++i)
    EXPECT_GT(bound[i] - bound[i - 1], 3 * std::hypot(se[i], se[i - 1])) << "K step " << i;
  EXPECT_NEAR(bound[2], exact, 0.02);
  EXPECT_NEAR(bound[2], exact, 3 * se[2]);
}

TEST(VAEBound, TheBernoulliDecoderHasNoBound) {
  VAE model(tiny_config(2, models::Likelihood::bernoulli));
  Generator gen(0);
  test::expect_error([&] { models::importance_weighted_bound(model, grid_images(2, 0), 4, gen); },
                     {"importance_weighted_bound", "Bernoulli", "8-bit", "gaussian-learned"});
  test::expect_error([&] { models::log_importance_weights(model, grid_images(2, 0), zeros({2, 4, 2})); },
                     {"log_importance_weights", "Bernoulli"});
}

TEST(VAEBound, ImagesOffThe256LevelGridAreRefused) {
  Generator init(1);
  VAE model(tiny_config(2), init);
  Generator gen(0);
  Tensor x = grid_images(2, 0);
  x.narrow(0, 1, 1).fill_(0.5);  // 127.5 / 255
  test::expect_error([&] { models::importance_weighted_bound(model, x, 4, gen); },
                     {"importance_weighted_bound", "256-level grid", "0.5", "[2,1,4,4]"});
  // Within 1e-4 of a level is on the grid (float rounding); outside [0,1] is not.
  Tensor near = grid_images(2, 0);
  near.narrow(0, 0, 1).fill_(100.0 / 255.0 + 0.2e-4 / 255.0);
  EXPECT_NO_THROW(models::importance_weighted_bound(model, near, 2, gen));
  near.narrow(0, 0, 1).fill_(256.0 / 255.0);
  test::expect_error([&] { models::importance_weighted_bound(model, near, 2, gen); }, {"256-level grid"});
}

TEST(VAEBound, TheBatchSizeDoesNotChangeTheBound) {
  // The noise of consecutive calls continues one Philox stream, so the
  // result does not depend on how the images are split.
  Generator init(1);
  VAE model(tiny_config(2), init);
  const Tensor x = grid_images(7, 4);
  Generator a(9), b(9);
  const models::IWBound one = models::importance_weighted_bound(model, x, 8, a, 8);       // one image a call
  const models::IWBound all = models::importance_weighted_bound(model, x, 8, b, 100000);  // all at once
  EXPECT_NEAR(one.nats_per_image, all.nats_per_image, 1e-9 * std::fabs(all.nats_per_image));
  EXPECT_NEAR(one.nats_std_error, all.nats_std_error, 1e-6);
  EXPECT_EQ(a.offset(), b.offset());
}
