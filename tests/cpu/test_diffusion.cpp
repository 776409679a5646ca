// The diffusion process of models/diffusion.h against independent
// computations: the schedules' values, q(x_t | x_0) against the iterated chain
// (Monte Carlo), the posterior against Bayes' rule by quadrature, the bound on
// a one-point data set with the exact noise predictor, the samplers, and the
// discretised Gaussian decoder.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "engine/nanogen.h"
#include "models/diffusion.h"
#include "models/unet.h"

using namespace ng;
using models::Diffusion;

namespace {

const TensorOptions f64 = TensorOptions{}.with_dtype(DType::f64);

// eps*(x_t, t) = (x_t - sqrt(abar_t) x0) / sqrt(1 - abar_t): the true noise
// when every image is x0 (a one-point data set).
models::EpsPredictor exact_predictor(const Diffusion& d, const Tensor& x0) {
  return [&d, x0](const Tensor& x_t, const Tensor& steps) {
    const std::vector<double> t = steps.to_vector<double>();
    for (double ti : t) EXPECT_EQ(ti, t[0]);  // the samplers and the bound use one t a call
    const int64_t t0 = int64_t(t[0]);
    return (x_t - x0 * std::sqrt(d.abar(t0))) * (1.0 / std::sqrt(1.0 - d.abar(t0)));
  };
}

// An image on the 256-level grid of [-1, 1], with both edge levels in it.
Tensor grid_image(int64_t n) {
  std::vector<double> v;
  for (int64_t i = 0; i < n * 16; ++i) v.push_back(2.0 * double((i * 37) % 256) / 255.0 - 1.0);
  v[0] = -1.0;
  v[1] = 1.0;
  return from_vector(v, {n, 1, 4, 4});
}

}  // namespace

// ---- schedules -----------------------------------------------------------------

TEST(Schedule, LinearMatchesHoEtAl) {
  const Diffusion d(models::BetaSchedule::linear, 1000);
  EXPECT_DOUBLE_EQ(d.beta(1), 1e-4);
  EXPECT_NEAR(d.beta(1000), 0.02, 1e-15);
  EXPECT_NEAR(d.beta(500), 1e-4 + (0.02 - 1e-4) * 499.0 / 999.0, 1e-15);
  // abar_T computed here independently: prod (1 - beta_i).
  double abar = 1;
  for (int i = 0; i < 1000; ++i) abar *= 1.0 - (1e-4 + (0.02 - 1e-4) * i / 999.0);
  EXPECT_NEAR(abar, 4.0358e-5, 1e-9);
  EXPECT_NEAR(d.abar(1000), abar, 1e-15);
  EXPECT_EQ(d.abar(0), 1.0);
  // The float tables hold the same values, entry t-1 for step t.
  EXPECT_FLOAT_EQ(float(d.alphas_cumprod.select(0, 999).item()), float(abar));
  EXPECT_FLOAT_EQ(float(d.betas.select(0, 0).item()), 1e-4f);
  EXPECT_FLOAT_EQ(float(d.alphas.select(0, 999).item()), 0.98f);
  // beta-tilde_t = beta_t (1 - abar_{t-1}) / (1 - abar_t): 0 at t = 1, below beta_t after.
  EXPECT_EQ(d.posterior_variance(1), 0.0);
  for (int64_t t : {2, 10, 500, 1000}) {
    EXPECT_LT(d.posterior_variance(t), d.beta(t));
    EXPECT_GT(d.posterior_variance(t), 0.0);
  }
  EXPECT_THROW(Diffusion(models::BetaSchedule::linear, 1), Error);
  EXPECT_THROW(models::parse_beta_schedule("quadratic"), Error);
}

TEST(Schedule, CosineFollowsNicholAndDhariwal) {
  const int64_t T = 1000;
  const Diffusion d(models::BetaSchedule::cosine, T);
  auto f = [](double t) {
    const double c = std::cos((t / 1000.0 + 0.008) / 1.008 * std::numbers::pi / 2);
    return c * c;
  };
  // abar_t = f(t) / f(0) wherever beta is not clipped (every t but the last),
  for (int64_t t : {1, 10, 250, 500, 750, 990, 999}) EXPECT_NEAR(d.abar(t), f(double(t)) / f(0), 1e-12) << t;
  EXPECT_NEAR(d.abar(500), 0.4937, 1e-3);  // about half the signal left half way
  // and the last beta is clipped at 0.999 (f(T) = 0), leaving almost no signal.
  EXPECT_DOUBLE_EQ(d.beta(T), 0.999);
  EXPECT_LT(d.abar(T), 1e-7);
  for (int64_t t = 1; t <= T; ++t) {
    EXPECT_LE(d.beta(t), 0.999);
    EXPECT_LT(d.abar(t), d.abar(t - 1));
    if (t > 1 && t < T) {
      ASSERT_GE(d.beta(t), d.beta(t - 1)) << "betas grow, t = " << t;
    }
  }
  // Small betas at the start: far smaller than the linear schedule's abar loss over 100 steps.
  EXPECT_GT(d.abar(100), Diffusion(models::BetaSchedule::linear, T).abar(100));
}

// ---- the forward process --------------------------------------------------------------

TEST(ForwardProcess, QSampleIsTheClosedForm) {
  const Diffusion d;
  const Tensor x0 = from_vector(std::vector<double>{0.5, -1, 0.25, 1}, {2, 2});
  const Tensor eps = from_vector(std::vector<double>{0.1, 2, -0.3, 0}, {2, 2});
  const std::vector<double> x = d.q_sample(x0, {3, 700}, eps).to_vector<double>();
  const std::vector<double> want{std::sqrt(d.abar(3)) * 0.5 + std::sqrt(1 - d.abar(3)) * 0.1,
                                 -std::sqrt(d.abar(3)) + std::sqrt(1 - d.abar(3)) * 2,
                                 std::sqrt(d.abar(700)) * 0.25 - std::sqrt(1 - d.abar(700)) * 0.3,
                                 std::sqrt(d.abar(700))};
  for (size_t i = 0; i < 4; ++i) EXPECT_NEAR(x[i], want[i], 1e-15);
  EXPECT_THROW(d.q_sample(x0, std::vector<int64_t>{3}, eps), Error);  // one t per image
  EXPECT_THROW(d.q_sample(x0, {0, 1}, eps), Error);  // t in 1..T
  EXPECT_THROW(d.q_sample(x0, {1, 1001}, eps), Error);
}

// The training loss draws eps inside the fused q_sample kernel: the same
// noise, x_t and loss bits as randn then the composite q_sample.
TEST(ForwardProcess, FusedLossHasTheBitsOfTheComposite) {
  const Diffusion d(models::BetaSchedule::linear, 1000);
  Generator init(3);
  const Tensor x0 = rand({3, 1, 5, 5}, init) * 2.0 - 1.0;
  const std::vector<int64_t> t = {1, 500, 1000};
  const models::EpsPredictor model = [](const Tensor& x, const Tensor&) { return x * 0.5; };
  Generator fused(9, 4), composite(9, 4);
  const Tensor eps = randn(x0.shape(), composite);
  const double a = d.loss(model, x0, models::timestep_tensor(t, x0.device()), fused).item();  // float32 values
  const double b = d.loss(model, x0, t, eps).item();
  EXPECT_EQ(a, b);
  EXPECT_EQ(fused.offset(), composite.offset());
}

// The training step draws its timesteps where the images are, as a tensor:
// min(T, 1 + floor(u T)) of the float64 uniforms rand draws, so the steps
// (and a checkpoint's generator offset) are those the host formula gives.
TEST(ForwardProcess, SampledTimestepsAreTheHostFormulaOfRandsUniforms) {
  for (const int64_t T : {int64_t(2), int64_t(1000), int64_t(4000)}) {
    const Diffusion d(models::BetaSchedule::linear, T);
    Generator gen(31, 5), twin(31, 5);
    const Tensor t = d.sample_timesteps(4096, gen);
    const std::vector<double> u = rand({4096}, twin, f64).to_vector<double>();
    EXPECT_EQ(gen.offset(), twin.offset());
    ASSERT_EQ(t.shape(), (Shape{4096}));
    EXPECT_EQ(t.dtype(), DType::f64);
    const std::vector<double> got = t.to_vector<double>();
    std::vector<int64_t> seen(size_t(T) + 1, 0);
    for (size_t i = 0; i < u.size(); ++i) {
      const int64_t want = std::min<int64_t>(T, 1 + int64_t(u[i] * double(T)));
      ASSERT_EQ(got[i], double(want)) << "u = " << u[i] << ", T = " << T;
      ++seen[size_t(want)];
    }
    if (T == 2) {
      EXPECT_GT(std::min(seen[1], seen[2]), 1900);  // both steps, about evenly
    }
  }
}

TEST(ForwardProcess, ClosedFormMatchesTheIteratedChain) {
  // Run the chain x_s = sqrt(1 - beta_s) x_{s-1} + sqrt(beta_s) z for 120
  // steps from x0 = 0.7 on M = 20000 walkers: the mean and variance must be
  // sqrt(abar_t) x0 and 1 - abar_t within 4 standard errors
  // (sd/sqrt(M) for the mean, var sqrt(2/M) for the variance).
  const Diffusion d;
  const int64_t M = 20000, t = 120;
  Generator gen(7);
  Tensor x = full({M}, 0.7, f64);
  for (int64_t s = 1; s <= t; ++s) x = x * std::sqrt(1 - d.beta(s)) + randn({M}, gen, f64) * std::sqrt(d.beta(s));
  const double mean = ng::mean(x).item(), var = ng::mean(square(x - mean)).item();
  const double want_mean = std::sqrt(d.abar(t)) * 0.7, want_var = 1 - d.abar(t);
  EXPECT_NEAR(mean, want_mean, 4 * std::sqrt(want_var / double(M)));
  EXPECT_NEAR(var, want_var, 4 * want_var * std::sqrt(2.0 / double(M)));
  // And q_sample's draws agree with the same moments.
  const Tensor y = d.q_sample(full({M, 1}, 0.7, f64), t, randn({M, 1}, gen, f64));
  EXPECT_NEAR(ng::mean(y).item(), want_mean, 4 * std::sqrt(want_var / double(M)));
}

TEST(ForwardProcess, PosteriorMatchesBayesByQuadrature) {
  // q(x_prev | x_t, x0) is proportional to q(x_t | x_prev) q(x_prev | x0);
  // integrate that product over a fine grid and compare its mean and variance.
  const Diffusion d;
  const double x0 = 0.3, xt = -0.4;
  struct Jump { int64_t t, t_prev; };
  for (const Jump j : {Jump{2, 1}, Jump{10, 9}, Jump{500, 499}, Jump{1000, 999}, Jump{500, 450}, Jump{100, 0}}) {
    SCOPED_TRACE(std::to_string(j.t) + " -> " + std::to_string(j.t_prev));
    const double a = d.abar(j.t) / d.abar(j.t_prev);  // q(x_t | x_prev) = N(sqrt(a) x_prev, 1 - a)
    const double prior_mean = std::sqrt(d.abar(j.t_prev)) * x0, prior_var = 1 - d.abar(j.t_prev);
    const Tensor mean_t = d.posterior_mean(from_vector(std::vector<double>{x0}, {1}),
                                           from_vector(std::vector<double>{xt}, {1}), j.t, j.t_prev);
    const double mean = mean_t.item(), var = d.step_posterior_variance(j.t, j.t_prev);
    if (j.t_prev == 0) {  // x_0 is known: the posterior is a point mass at x0
      EXPECT_NEAR(mean, x0, 1e-15);
      EXPECT_EQ(var, 0.0);
      continue;
    }
    double z = 0, m1 = 0, m2 = 0;
    const double lo = -4, hi = 4;
    const int64_t n = 800001;
    const double h = (hi - lo) / double(n - 1);
    std::vector<double> logw(static_cast<size_t>(n));
    double top = -INFINITY;
    for (int64_t i = 0; i < n; ++i) {
      const double y = lo + h * double(i);
      logw[size_t(i)] = -0.5 * std::pow(xt - std::sqrt(a) * y, 2) / (1 - a) -
                        0.5 * std::pow(y - prior_mean, 2) / prior_var;
      top = std::max(top, logw[size_t(i)]);
    }
    for (int64_t i = 0; i < n; ++i) {
      const double y = lo + h * double(i), w = std::exp(logw[size_t(i)] - top);
      z += w;
      m1 += w * y;
    }
    m1 /= z;
    for (int64_t i = 0; i < n; ++i) {
      const double y = lo + h * double(i);
      m2 += std::exp(logw[size_t(i)] - top) * (y - m1) * (y - m1);
    }
    m2 /= z;
    EXPECT_NEAR(mean, m1, 1e-7);
    EXPECT_NEAR(var, m2, 1e-6 * m2);
    if (j.t_prev == j.t - 1) {
      EXPECT_NEAR(var, d.posterior_variance(j.t), 1e-12 * var);
    }
  }
}

// ---- the reverse steps --------------------------------------------------------------

TEST(ReverseProcess, StepMeanIsHoEtAlsEpsilonForm) {
  // Without clipping, the posterior mean at x0_hat is
  // 1/sqrt(alpha_t) (x_t - beta_t / sqrt(1 - abar_t) eps).
  const Diffusion d;
  Generator gen(3);
  const Tensor x = randn({2, 1, 3, 3}, gen, f64), eps = randn({2, 1, 3, 3}, gen, f64);
  for (int64_t t : {1, 2, 50, 999, 1000}) {
    const Tensor want = (x - eps * (d.beta(t) / std::sqrt(1 - d.abar(t)))) * (1 / std::sqrt(d.alpha(t)));
    const std::vector<double> got = d.p_mean(x, eps, t, t - 1).to_vector<double>(), w = want.to_vector<double>();
    for (size_t i = 0; i < w.size(); ++i) EXPECT_NEAR(got[i], w[i], 1e-10 * (1 + std::fabs(w[i]))) << t;
    // and the step adds sigma_t z
    const Tensor z = randn(x.shape(), gen, f64);
    const std::vector<double> step = d.p_sample_step(x, eps, t, t - 1, z, false).to_vector<double>(),
                              zz = z.to_vector<double>();
    for (size_t i = 0; i < w.size(); ++i)
      EXPECT_NEAR(step[i], w[i] + (t > 1 ? std::sqrt(d.sigma2(t)) * zz[i] : 0.0), 1e-10 * (1 + std::fabs(w[i])));
  }
  // DDIM with eta = 1 has the posterior's variance (for the one-step jump).
  const double ab = d.abar(100), ab_prev = d.abar(99);
  const double s = std::sqrt((1 - ab_prev) / (1 - ab)) * std::sqrt(1 - ab / ab_prev);
  EXPECT_NEAR(s * s, d.posterior_variance(100), 1e-15);
  EXPECT_THROW(d.p_sample_step(x, eps, 5, 4, Tensor()), Error);  // noise needed
  EXPECT_THROW(d.ddim_step(x, eps, 5, 6, 0.0, Tensor()), Error);  // not a reverse step
}

TEST(ReverseProcess, SamplingTimestepsAreEvenlySpaced) {
  EXPECT_EQ(models::sampling_timesteps(1000, 4), (std::vector<int64_t>{250, 500, 750, 1000}));
  EXPECT_EQ(models::sampling_timesteps(1000, 3), (std::vector<int64_t>{333, 667, 1000}));
  EXPECT_EQ(models::sampling_timesteps(10, 0).size(), 10u);
  EXPECT_EQ(models::sampling_timesteps(10, 50).size(), 10u);
  EXPECT_EQ(models::sampling_timesteps(10, 10).front(), 1);
}

TEST(ReverseProcess, DDIMWithEtaZeroIsDeterministic) {
  // A random narrow U-Net as the predictor; two noise streams, one result.
  const Diffusion d;
  models::UNetConfig c;
  c.height = c.width = 8;
  c.base = 8;
  c.mults = {1, 2};
  c.attention_res = {4};
  c.temb_dim = 16;
  c.groups = 4;
  Generator init(5);
  models::UNet net(c, init);
  net.eval();
  const models::EpsPredictor model = [&](const Tensor& x, const Tensor& t) { return net.forward(x, t); };
  Generator g0(11);
  const Tensor x_T = randn({3, 1, 8, 8}, g0);
  models::SamplerOptions o;
  o.sampler = models::Sampler::ddim;
  o.steps = 8;
  o.snapshots = 5;
  Generator ga(1), gb(2);
  const models::SampleResult a = models::sample(d, model, x_T, o, ga), b = models::sample(d, model, x_T, o, gb);
  EXPECT_EQ(a.x0.to_vector<float>(), b.x0.to_vector<float>());
  EXPECT_EQ(ga.offset(), 0u);  // no noise was drawn
  ASSERT_EQ(a.trajectory.size(), 5u);
  EXPECT_EQ(a.trajectory.front().to_vector<float>(), x_T.to_vector<float>());
  EXPECT_EQ(a.trajectory.back().to_vector<float>(), a.x0.to_vector<float>());
  // With eta = 1 (or the ancestral sampler) the noise matters.
  o.eta = 1;
  Generator gc(1), gd(2);
  EXPECT_NE(models::sample(d, model, x_T, o, gc).x0.to_vector<float>(),
            models::sample(d, model, x_T, o, gd).x0.to_vector<float>());
}

TEST(ReverseProcess, ExactPredictorLandsOnTheDataPoint) {
  // On a one-point data set the exact predictor makes x0_hat = x0 at every
  // step, so DDIM (any eta) and the ancestral sampler end exactly on x0.
  const Diffusion d;
  const Tensor x0 = grid_image(2);
  const models::EpsPredictor model = exact_predictor(d, x0);
  Generator g(4);
  const Tensor x_T = randn(x0.shape(), g, f64);
  const std::vector<double> want = x0.to_vector<double>();
  for (const models::Sampler s : {models::Sampler::ddim, models::Sampler::ancestral})
    for (int64_t steps : {0, 10})
      for (double eta : {0.0, 1.0}) {
        models::SamplerOptions o;
        o.sampler = s;
        o.steps = steps;
        o.eta = eta;
        o.clip = eta == 0;  // with or without clipping: x0_hat is in [-1, 1] anyway
        const std::vector<double> got = models::sample(d, model, x_T, o, g).x0.to_vector<double>();
        for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-9) << steps << " " << eta;
      }
}

// ---- the bound -------------------------------------------------------------------------

TEST(DiscretizedDecoder, ProbabilitiesOfAllLevelsSumToOne) {
  for (double mean : {-1.3, -1.0, -0.31, 0.0, 0.5, 1.0, 1.2})
    for (double scale : {1e-3, 0.0074, 0.1, 1.0, 3.0}) {
      double total = 0;
      for (int k = 0; k < 256; ++k)
        total += std::exp(models::discretized_gaussian_log_likelihood(2.0 * k / 255.0 - 1.0, mean, std::log(scale)));
      EXPECT_NEAR(total, 1.0, 1e-12) << "mean " << mean << " scale " << scale;
    }
  // An interior level at the mean: erf(delta / (sigma sqrt 2)), delta = 1/255.
  const double s = 0.01, x = 2.0 * 100 / 255.0 - 1.0;
  EXPECT_NEAR(models::discretized_gaussian_log_likelihood(x, x, std::log(s)),
              std::log(std::erf(1.0 / 255.0 / (s * std::numbers::sqrt2))), 1e-13);
  // Far tails stay finite: a level 40 sigma away.
  const double far = models::discretized_gaussian_log_likelihood(0.0, 0.4, std::log(0.01));
  EXPECT_TRUE(std::isfinite(far));
  EXPECT_LT(far, -700.0);
}

TEST(DiscretizedDecoder, LogNormalCdfIsAccurateInBothTails) {
  // References: torch.special.log_ndtr in float64.
  const std::vector<std::pair<double, double>> ref{{-40, -804.60844201375392}, {-30, -454.32124395634327},
                                                   {-20.5, -214.06672896326387}, {-5, -15.064998393988727},
                                                   {-1, -1.841021645009264},      {0, -0.69314718055994529},
                                                   {1, -0.17275377902344985},     {5, -2.8665161296376331e-07},
                                                   {10, -7.6198530241604975e-24}};
  for (const auto& [z, want] : ref) EXPECT_NEAR(models::log_ndtr(z), want, 1e-12 * std::fabs(want)) << z;
  // log(Phi(b) - Phi(a)) far in either tail, where the plain difference is 0.
  EXPECT_NEAR(models::log_ndtr_diff(-41, -40), -804.60844201375392, 1e-9);  // Phi(-41) is e^-40 of Phi(-40)
  EXPECT_NEAR(models::log_ndtr_diff(40, 41), -804.60844201375392, 1e-9);
  EXPECT_NEAR(models::log_ndtr_diff(-1, 1), std::log(std::erf(1 / std::numbers::sqrt2)), 1e-15);
}

TEST(VariationalBound, OnePointDataWithTheExactPredictorIsPriorPlusDecoder) {
  // With eps* and sigma_t^2 = beta-tilde_t, p_theta(x_{t-1} | x_t) is exactly
  // q(x_{t-1} | x_t, x0): every L_t vanishes, and the bound is L_T + L_0 with
  // the decoder centred on x0 with variance beta-tilde_2.
  const Diffusion d(models::BetaSchedule::linear, 1000, models::ReverseVariance::posterior);
  const Tensor point = grid_image(1), x0 = point.expand({3, 1, 4, 4}).contiguous();
  models::BoundOptions o;
  o.batch_size = 2;  // two batches
  const models::BoundTerms b = models::variational_bound(d, exact_predictor(d, point), x0, o);
  ASSERT_EQ(b.per_t.size(), 999u);
  for (const auto& [t, l] : b.per_t) ASSERT_NEAR(l, 0.0, 1e-12) << "L_t at t = " << t;
  EXPECT_NEAR(b.diffusion, 0.0, 1e-10);

  const std::vector<double> x = x0.to_vector<double>();
  const double D = 16, N = 3, abar_T = d.abar(1000), sigma = std::sqrt(d.posterior_variance(2));
  double prior = 0, decoder = 0;
  for (double v : x) {
    prior += 0.5 * (abar_T * v * v + (1 - abar_T) - 1 - std::log(1 - abar_T));
    // The bin holds erf(u) of the mass, u = (1/255) / (sigma sqrt 2); an edge
    // level's bin reaches to infinity on one side and holds (1 + erf(u)) / 2.
    const double u = 1.0 / 255.0 / (sigma * std::numbers::sqrt2);
    decoder -= std::fabs(v) == 1.0 ? std::log(0.5 * (1 + std::erf(u))) : std::log(std::erf(u));
  }
  const double to_bpd = 1 / (N * D * std::numbers::ln2);
  EXPECT_NEAR(b.prior, prior * to_bpd, 1e-12);
  EXPECT_NEAR(b.decoder, decoder * to_bpd, 1e-9 * decoder * to_bpd);
  EXPECT_NEAR(b.total, (prior + decoder) * to_bpd, 1e-9);

  // With sigma_t^2 = beta_t the means still agree and each L_t is the
  // variance mismatch 0.5 (log(beta / beta-tilde) + beta-tilde / beta - 1) per pixel.
  const Diffusion db(models::BetaSchedule::linear, 1000, models::ReverseVariance::beta);
  models::BoundOptions ob;
  ob.timesteps = 5;
  ob.stratified = false;
  const models::BoundTerms bb = models::variational_bound(db, exact_predictor(db, point), x0, ob);
  ASSERT_EQ(bb.per_t.size(), 5u);
  double sum = 0;
  for (const auto& [t, l] : bb.per_t) {
    const double r = db.posterior_variance(t) / db.beta(t);
    EXPECT_NEAR(l, 0.5 * (-std::log(r) + r - 1) / std::numbers::ln2, 1e-10) << t;
    sum += l;
  }
  // Every stratum (of 999 / 5 terms) weighs its one t by its size.
  EXPECT_GT(bb.diffusion, sum);
}

TEST(VariationalBound, StrataCoverEveryTimestepOnce) {
  for (const bool log_spaced : {true, false})
    for (int64_t k : {1, 3, 10, 100, 998}) {
      const std::vector<int64_t> e = models::bound_strata(1000, k, log_spaced);
      ASSERT_EQ(e.size(), size_t(k + 1));
      EXPECT_EQ(e.front(), 2);
      EXPECT_EQ(e.back(), 1001);
      for (size_t i = 1; i < e.size(); ++i) ASSERT_GT(e[i], e[i - 1]);
    }
  // Geometric strata give the small t, where L_t is large, strata of their own.
  const std::vector<int64_t> g = models::bound_strata(1000, 10, true);
  EXPECT_EQ(g[1] - g[0], 2);       // {2, 3}
  EXPECT_GT(g[10] - g[9], 400);    // ~ {505 .. 1000}
  EXPECT_EQ(models::bound_strata(1000, 10, false)[1], 101);
  EXPECT_EQ(models::bound_strata(1000, 0, true).size(), 1000u);  // every t
  EXPECT_EQ(models::bound_strata(10, 50, true).size(), 10u);
}

TEST(VariationalBound, StratifiedEstimateIsUnbiased) {
  // With the beta variance and the exact predictor, L_t is a fixed function
  // of t (no noise enters), so the estimate's only randomness is the choice of
  // t in each stratum. Over 300 seeds its mean must match the full 999-term
  // sum within 4 standard errors, and each evaluated L_t must be the full
  // run's value at that t, for both kinds of strata.
  const Diffusion d(models::BetaSchedule::linear, 1000, models::ReverseVariance::beta);
  const Tensor x0 = grid_image(1);
  const models::EpsPredictor model = exact_predictor(d, x0);
  const models::BoundTerms full = models::variational_bound(d, model, x0, {});
  ASSERT_EQ(full.per_t.size(), 999u);
  for (const bool log_spaced : {true, false}) {
    SCOPED_TRACE(log_spaced ? "geometric strata" : "even strata");
    const std::vector<int64_t> edges = models::bound_strata(1000, 20, log_spaced);
    double sum = 0, sum2 = 0;
    const int runs = 300;
    for (int seed = 0; seed < runs; ++seed) {
      models::BoundOptions o;
      o.timesteps = 20;
      o.log_strata = log_spaced;
      o.seed = uint64_t(seed);
      const models::BoundTerms est = models::variational_bound(d, model, x0, o);
      ASSERT_EQ(est.per_t.size(), 20u);
      for (size_t k = 0; k < est.per_t.size(); ++k) {
        const auto [t, l] = est.per_t[k];
        ASSERT_GE(t, edges[k]);  // inside stratum k
        ASSERT_LT(t, edges[k + 1]);
        ASSERT_NEAR(l, full.per_t[size_t(t - 2)].second, 1e-12);
      }
      sum += est.diffusion;
      sum2 += est.diffusion * est.diffusion;
    }
    const double mean = sum / runs, sd = std::sqrt(std::max(0.0, sum2 / runs - mean * mean));
    EXPECT_GT(sd, 0.0);
    EXPECT_NEAR(mean, full.diffusion, 4 * sd / std::sqrt(double(runs)));
    // Geometric strata estimate this L_t (~1/(4 t^2) at small t) far better.
    if (log_spaced) {
      EXPECT_LT(sd, 0.05 * full.diffusion);
    }
  }
}
