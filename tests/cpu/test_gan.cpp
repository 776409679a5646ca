// The DCGAN and its five losses: parity with the PyTorch twin (a fixture
// written by benchmarks/pytorch/gan.py --dump with Debian's PyTorch 1.13),
// each loss against hand-computed values and gradients, stability at extreme
// logits, the theory (the optimal discriminator's logit is log p_data/p_g),
// the gradient penalty by hand and by finite differences, short training
// runs for every loss, and resume.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "engine/io/safetensors.h"
#include "engine/nanogen.h"
#include "engine/optim/optimizer.h"
#include "models/gan.h"
#include "models/pixels.h"
#include "support/gradcheck.h"
#include "support/runs.h"
#include "tools/run_folder.h"
#include "tools/sample.h"
#include "tools/eval_models.h"
#include "tools/train_gan.h"

using namespace ng;
using test::devices;
using test::expect_close_rel;
using test::have_fashion_mnist;
using test::temp_run;
using models::GANLoss;

namespace {

const char* kFixture = "tests/fixtures/gan_parity.safetensors";
const GANLoss kLosses[] = {GANLoss::minimax, GANLoss::nonsaturating, GANLoss::kl, GANLoss::wasserstein,
                           GANLoss::hinge};

// The fixture's narrow model (benchmarks/pytorch/gan.py: NARROW).
models::GANConfig narrow_config(models::DNorm norm = models::DNorm::batch) {
  models::GANConfig c;
  c.z_dim = 4;
  c.g_width = 4;
  c.d_width = 4;
  c.d_norm = norm;
  return c;
}

// Tensors compare with expect_close_rel's absolute floor at 1e-6: the biases
// just before a batch norm have a gradient of exactly zero in exact
// arithmetic, and both sides give rounding noise of ~1e-7 for it.
constexpr double kFloor = 1e-6;

void expect_rel(double actual, double expected, double rtol, const std::string& what) {
  EXPECT_NEAR(actual, expected, rtol * std::fabs(expected) + 1e-7) << what;
}

Tensor f64(const std::vector<double>& v) {
  return from_vector(v, {int64_t(v.size())}).requires_grad_();
}

double softplus_ref(double x) { return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }
double sigmoid_ref(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// The standard normal quantile, by bisection on Phi(x) = erfc(-x / sqrt 2) / 2.
double normal_quantile(double p) {
  double lo = -10, hi = 10;
  for (int i = 0; i < 100; ++i) {
    const double mid = 0.5 * (lo + hi);
    (0.5 * std::erfc(-mid / std::sqrt(2.0)) < p ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

}  // namespace

// ---- parity with PyTorch --------------------------------------------------------

TEST(GANParity, OneDiscriminatorAndOneGeneratorStepPerLossMatchPyTorch) {
  // For each case the fixture holds D's loss and gradients, D's weights after
  // an SGD step (lr 0.1, then clipping), G's loss and gradients after that
  // step, and every running statistic after both steps.
  const SafetensorsContent fx = load_safetensors(kFixture);
  const Tensor x = fx.at("x"), z_d = fx.at("z_d"), z_g = fx.at("z_g"), alpha = fx.at("alpha");
  struct Case {
    const char* name;
    models::GANObjective objective;
    models::DNorm norm;
  };
  const Case cases[] = {{"minimax", {GANLoss::minimax, 0, 0}, models::DNorm::batch},
                        {"nonsaturating", {GANLoss::nonsaturating, 0, 0}, models::DNorm::batch},
                        {"kl", {GANLoss::kl, 0, 0}, models::DNorm::batch},
                        {"wasserstein", {GANLoss::wasserstein, 0, 0.01}, models::DNorm::batch},
                        {"wasserstein_gp", {GANLoss::wasserstein, 10.0, 0}, models::DNorm::none},
                        {"hinge", {GANLoss::hinge, 0, 0}, models::DNorm::batch}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string p = std::string(c.name) + ".";
    models::GAN model(narrow_config(c.norm));
    // The fixture's initial weights; PyTorch's int64 num_batches_tracked loads as float32.
    NamedTensors init;
    for (const auto& [name, t] : tools::with_prefix_removed(fx.tensors, "param."))
      if (c.norm == models::DNorm::batch || name.rfind("D.3.", 0) != 0) init.emplace_back(name, t);
    model.load_state_dict(init);
    model.train();
    optim::SGD opt_d(model.d_parameters(), {.lr = 0.1}), opt_g(model.g_parameters(), {.lr = 0.1});

    opt_d.zero_grad();
    const models::DiscriminatorTerms dt = model.discriminator_terms(x, z_d, alpha, c.objective);
    dt.loss.backward();
    expect_rel(dt.loss.item(), fx.at(p + "d_loss").item(), 1e-5, "d_loss");
    if (c.objective.gp > 0) expect_rel(dt.penalty.item(), fx.at(p + "penalty").item(), 1e-5, "penalty");
    for (const auto& [name, param] : model.d_parameters())
      expect_close_rel(param.grad(), fx.at(p + "grad." + name), 2e-5, kFloor, "grad." + name);
    opt_d.step();
    if (c.objective.clip > 0) models::clip_weights(model.D->parameters(), c.objective.clip);
    for (const auto& [name, param] : model.d_parameters())
      expect_close_rel(param, fx.at(p + "after_d_step." + name), 1e-5, kFloor, "after_d_step." + name);

    opt_g.zero_grad();
    const Tensor g_loss = model.generator_terms(z_g, c.objective).first;
    g_loss.backward();
    expect_rel(g_loss.item(), fx.at(p + "g_loss").item(), 1e-5, "g_loss");
    for (const auto& [name, param] : model.g_parameters())
      expect_close_rel(param.grad(), fx.at(p + "grad." + name), 2e-5, kFloor, "grad." + name);
    // D's weights stay out of G's graph.
    for (const auto& [name, param] : model.d_parameters()) EXPECT_TRUE(param.requires_grad()) << name;
    opt_g.step();
    for (const auto& [name, buffer] : model.named_buffers())
      expect_close_rel(buffer, fx.at(p + "buffer." + name), 1e-5, kFloor, "buffer." + name);
  }
}

TEST(GAN, ParameterNamesAndShapesAreThoseOfTheCanonicalModel) {
  models::GAN model{models::GANConfig{}};
  const NamedTensors s = model.state_dict();
  auto shape_of = [&](const std::string& name) {
    for (const auto& [n, t] : s)
      if (n == name) return t.shape();
    ADD_FAILURE() << "no " << name;
    return Shape{};
  };
  EXPECT_EQ(shape_of("G.0.weight"), (Shape{6272, 64}));
  EXPECT_EQ(shape_of("G.1.running_mean"), (Shape{6272}));
  EXPECT_EQ(shape_of("G.4.weight"), (Shape{128, 64, 4, 4}));
  EXPECT_EQ(shape_of("G.5.weight"), (Shape{64}));
  EXPECT_EQ(shape_of("G.7.weight"), (Shape{64, 1, 4, 4}));
  EXPECT_EQ(shape_of("D.0.weight"), (Shape{64, 1, 4, 4}));
  EXPECT_EQ(shape_of("D.2.weight"), (Shape{128, 64, 4, 4}));
  EXPECT_EQ(shape_of("D.3.running_var"), (Shape{128}));
  EXPECT_EQ(shape_of("D.6.weight"), (Shape{1, 6272}));
  EXPECT_EQ(model.G->num_parameters(), 64 * 6272 + 6272 + 2 * 6272 + 128 * 64 * 16 + 64 + 2 * 64 + 64 * 16 + 1);
}

TEST(GAN, ColourImagesOf32PixelsWork) {
  models::GANConfig c = narrow_config();
  c.channels = 3;
  c.height = c.width = 32;
  models::GAN model(c);
  const Tensor z = randn({5, 4});
  const Tensor img = model.generate(z);
  EXPECT_EQ(img.shape(), (Shape{5, 3, 32, 32}));
  EXPECT_LE(max(abs(img)).item(), 1.0);
  EXPECT_EQ(model.discriminate(img).shape(), (Shape{5}));
  EXPECT_EQ(model.G->named_parameters()[0].second.shape(), (Shape{2 * 4 * 8 * 8, 4}));  // an 8x8 bottom
}

TEST(GAN, ErrorsNameTheProblem) {
  models::GAN model(narrow_config());
  try {
    model.discriminate(zeros({2, 3, 28, 28}));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[2,3,28,28]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(model.generate(zeros({2, 5})), Error);
  EXPECT_THROW(models::parse_gan_loss("least-squares"), Error);
  // The gradient penalty needs a per-sample critic: batch norm is refused.
  try {
    model.discriminator_terms(zeros({2, 1, 28, 28}), zeros({2, 4}), zeros({2}), {GANLoss::wasserstein, 10.0, 0});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("batch norm"), std::string::npos) << e.what();
  }
  tools::GANOptions o;
  o.gp = 10;
  o.d_norm = "batch";
  EXPECT_THROW(tools::resolve_gan_options(o), Error);
}

TEST(GAN, OptionsResolveToThePapersDefaults) {
  tools::GANOptions o;
  o.loss = "wasserstein";
  tools::GANOptions r = tools::resolve_gan_options(o);
  EXPECT_EQ(r.n_critic, 5);
  EXPECT_EQ(r.clip, 0.01);
  EXPECT_EQ(r.d_norm, "batch");
  o.gp = 10;
  r = tools::resolve_gan_options(o);
  EXPECT_EQ(r.clip, 0.0);
  EXPECT_EQ(r.d_norm, "none");
  r = tools::resolve_gan_options(tools::GANOptions{});
  EXPECT_EQ(r.n_critic, 1);
  EXPECT_EQ(r.clip, 0.0);
}

// ---- the losses by hand ------------------------------------------------------------

TEST(GANLosses, ValuesAndGradientsMatchHandComputedOnes) {
  const std::vector<double> hr{0.5, -1.0, 2.0}, hf{-0.3, 1.5, -2.0};
  const double nr = double(hr.size()), nf = double(hf.size());
  for (const GANLoss l : kLosses) {
    SCOPED_TRACE(models::gan_loss_name(l));
    // Hand-computed D loss and its derivatives.
    double d = 0, g = 0;
    std::vector<double> dr(hr.size()), df(hf.size()), gf(hf.size());
    for (size_t i = 0; i < hr.size(); ++i) {
      switch (l) {
        case GANLoss::wasserstein: d -= hr[i] / nr; dr[i] = -1 / nr; break;
        case GANLoss::hinge: d += std::max(0.0, 1 - hr[i]) / nr; dr[i] = hr[i] < 1 ? -1 / nr : 0; break;
        default: d += softplus_ref(-hr[i]) / nr; dr[i] = -sigmoid_ref(-hr[i]) / nr; break;
      }
    }
    for (size_t j = 0; j < hf.size(); ++j) {
      switch (l) {
        case GANLoss::wasserstein: d += hf[j] / nf; df[j] = 1 / nf; break;
        case GANLoss::hinge: d += std::max(0.0, 1 + hf[j]) / nf; df[j] = hf[j] > -1 ? 1 / nf : 0; break;
        default: d += softplus_ref(hf[j]) / nf; df[j] = sigmoid_ref(hf[j]) / nf; break;
      }
      // G's loss, written with D = sigmoid(h) as in the papers.
      const double s = sigmoid_ref(hf[j]);
      switch (l) {
        case GANLoss::minimax: g += std::log(1 - s) / nf; gf[j] = -s / nf; break;
        case GANLoss::nonsaturating: g += -std::log(s) / nf; gf[j] = -(1 - s) / nf; break;
        case GANLoss::kl: g += (std::log(1 - s) - std::log(s)) / nf; gf[j] = -1 / nf; break;
        default: g += -hf[j] / nf; gf[j] = -1 / nf; break;
      }
    }
    const Tensor real = f64(hr), fake = f64(hf);
    const Tensor dl = models::discriminator_loss(l, real, fake);
    EXPECT_NEAR(dl.item(), d, 1e-12);
    const std::vector<Tensor> dg = autograd::grad({dl}, {real, fake});
    test::expect_close(dg[0], from_vector(dr, {3}), 1e-12);
    test::expect_close(dg[1], from_vector(df, {3}), 1e-12);
    const Tensor gl = models::generator_loss(l, fake);
    EXPECT_NEAR(gl.item(), g, 1e-12);
    test::expect_close(autograd::grad({gl}, {fake})[0], from_vector(gf, {3}), 1e-12);
    // And against central differences, on a batch as [N,1] logits too.
    test::expect_gradcheck([l](const std::vector<Tensor>& v) { return models::discriminator_loss(l, v[0], v[1]); },
                           {f64(hr).reshape({3, 1}).detach().requires_grad_(), f64(hf)});
    test::expect_gradcheck([l](const std::vector<Tensor>& v) { return models::generator_loss(l, v[0]); }, {f64(hf)});
  }
}

TEST(GANLosses, StayFiniteAtExtremeLogits) {
  // float32 logits of +-1000: sigmoid is exactly 0 or 1 there, so any
  // log(sigmoid(h)) would give -inf; the softplus forms give exact values.
  const Tensor h = from_vector(std::vector<float>{1000.0f, -1000.0f}, {2});
  for (const GANLoss l : kLosses) {
    SCOPED_TRACE(models::gan_loss_name(l));
    const Tensor real = h.clone().requires_grad_(), fake = h.clone().requires_grad_();
    const Tensor dl = models::discriminator_loss(l, real, fake), gl = models::generator_loss(l, fake);
    EXPECT_TRUE(std::isfinite(dl.item()));
    EXPECT_TRUE(std::isfinite(gl.item()));
    for (const Tensor& g : autograd::grad({dl + gl}, {real, fake}))
      for (float v : g.to_vector<float>()) EXPECT_TRUE(std::isfinite(v));
  }
  // The BCE losses exactly: softplus(-1000) = 0, softplus(1000) = 1000.
  EXPECT_FLOAT_EQ(models::discriminator_loss(GANLoss::nonsaturating, h, h).item(), 1000.0f);
  EXPECT_FLOAT_EQ(models::generator_loss(GANLoss::nonsaturating, h).item(), 500.0f);
  EXPECT_FLOAT_EQ(models::generator_loss(GANLoss::minimax, h).item(), -500.0f);
  const Tensor fake = h.clone().requires_grad_();
  EXPECT_EQ(autograd::grad({models::generator_loss(GANLoss::nonsaturating, fake)}, {fake})[0].to_vector<float>(),
            (std::vector<float>{-0.0f, -0.5f}));  // -(1 - sigmoid(h)) / 2
}

// ---- theory on a one-dimensional toy -------------------------------------------

TEST(GANTheory, TrainedDiscriminatorLogitIsTheLogDensityRatio) {
  // p_data = N(1, 1), p_g = N(-1, 1.5^2) as fixed sample sets. The D loss
  // -E_data log D - E_g log(1 - D) is minimised by D* = p_data / (p_data + p_g),
  // whose logit is log(p_data / p_g) = log 1.5 - (x-1)^2/2 + (x+1)^2/4.5, a
  // quadratic: a logistic discriminator on (1, x, x^2) can represent it.
  // The sample sets are the n quantiles at (i + 1/2)/n rather than random
  // draws: random sets of 20000 leave the fitted logit 0.1-0.2 off at x = +-2.5
  // from sampling noise alone, the quantiles (a quadrature) about 0.006.
  const int64_t n = 4000;
  std::vector<double> q(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) q[size_t(i)] = normal_quantile((double(i) + 0.5) / double(n));
  const TensorOptions f64_opts = TensorOptions{}.with_dtype(DType::f64);
  const Tensor real = from_vector(q, {n}) + 1.0;
  const Tensor fake = from_vector(q, {n}) * 1.5 - 1.0;
  Tensor w = zeros({3}, f64_opts).requires_grad_();
  auto logit = [&](const Tensor& x) { return w.select(0, 0) + w.select(0, 1) * x + w.select(0, 2) * square(x); };
  optim::Adam opt({{"w", w}}, {.lr = 0.05});
  for (int step = 0; step < 1000; ++step) {
    opt.zero_grad();
    models::discriminator_loss(GANLoss::nonsaturating, logit(real), logit(fake)).backward();
    opt.step();
  }
  NoGradGuard no_grad;
  // On x in [-3, 3] (where both densities have mass) within 0.02: the
  // logit runs from -7.6 to 1.9 there.
  const Tensor grid = linspace(-3.0, 3.0, 61, f64_opts);
  const std::vector<double> xs = grid.to_vector<double>(), learned = logit(grid).to_vector<double>();
  for (size_t i = 0; i < xs.size(); ++i) {
    const double x = xs[i];
    const double truth = std::log(1.5) - (x - 1) * (x - 1) / 2 + (x + 1) * (x + 1) / 4.5;
    EXPECT_NEAR(learned[i], truth, 0.02) << "x = " << x;
  }
  // With that discriminator the kl generator loss E_g[-h] estimates
  // KL(p_g || p_data) = log(1/1.5) + (1.5^2 + 2^2)/2 - 1/2 = 2.2195.
  const double kl = models::generator_loss(GANLoss::kl, logit(fake)).item();
  EXPECT_NEAR(kl, std::log(1 / 1.5) + (2.25 + 4.0) / 2 - 0.5, 0.01);
}

// ---- the gradient penalty ---------------------------------------------------------

TEST(GradientPenalty, LinearCriticByHandAndItsWeightGradientByFiniteDifferences) {
  // f(x) = <w, x> + b has grad_x f = w for every x, so the penalty is
  // (||w|| - 1)^2 whatever the interpolates, and its gradient w.r.t. w is
  // 2 (||w|| - 1) w / ||w||.
  const Tensor real = test::uniform({4, 1, 2, 3}, 1), fake = test::uniform({4, 1, 2, 3}, 2);
  const Tensor alpha = test::uniform({4}, 3, 0, 1);
  const Tensor w = test::uniform({1, 1, 2, 3}, 4).requires_grad_(), b = test::uniform({1}, 5).requires_grad_();
  auto penalty = [&](const std::vector<Tensor>& v) {
    auto critic = [&](const Tensor& x) { return sum(x * v[0], {1, 2, 3}) + v[1]; };
    return models::gradient_penalty(critic, real, fake, alpha);
  };
  const Tensor gp = penalty({w, b});
  const std::vector<double> wv = w.to_vector<double>();
  double norm = 0;
  for (double v : wv) norm += v * v;
  norm = std::sqrt(norm);
  EXPECT_NEAR(gp.item(), (norm - 1) * (norm - 1), 1e-11);
  const std::vector<Tensor> g = autograd::grad({gp}, {w, b}, {}, false, false, /*allow_unused=*/true);
  std::vector<double> expected;
  for (double v : wv) expected.push_back(2 * (norm - 1) * v / norm);
  test::expect_close(g[0].reshape({6}), from_vector(expected, {6}), 1e-10);
  EXPECT_EQ(g[1].item(), 0.0);  // the bias does not move the gradient
  test::expect_gradcheck(penalty, {w, b});
}

TEST(GradientPenalty, ThroughAConvLeakyReluCriticMatchesFiniteDifferences) {
  // A small version of D (conv, leaky relu, linear) in float64: the penalty's
  // gradient w.r.t. every weight is a true double backward.
  const Tensor real = test::uniform({3, 1, 6, 6}, 11), fake = test::uniform({3, 1, 6, 6}, 12);
  const Tensor alpha = test::uniform({3}, 13, 0, 1);
  const std::vector<Tensor> weights = {test::uniform({2, 1, 4, 4}, 14).requires_grad_(),
                                       test::uniform({2}, 15).requires_grad_(),
                                       test::uniform({1, 18}, 16).requires_grad_()};
  test::expect_gradcheck(
      [&](const std::vector<Tensor>& v) {
        auto critic = [&](const Tensor& x) {
          return linear(leaky_relu(conv2d(x, v[0], v[1], 2, 1), 0.2).flatten(1), v[2]).reshape({x.size(0)});
        };
        return models::gradient_penalty(critic, real, fake, alpha);
      },
      weights);
}

TEST(GradientPenalty, ClippingBoundsEveryWeight) {
  const Tensor w = test::uniform({10}, 21, -1, 1, DType::f32).requires_grad_();
  models::clip_weights({w}, 0.01);
  for (float v : w.to_vector<float>()) EXPECT_LE(std::fabs(v), 0.01f);
  EXPECT_TRUE(w.requires_grad());
}

// ---- training runs ---------------------------------------------------------------

namespace {

tools::CommonOptions tiny_run(const std::string& out) {
  tools::CommonOptions o;
  o.out = out;
  o.device = "cpu";
  o.epochs = 2;
  o.batch_size = 32;
  o.limit = 256;  // 8 batches an epoch
  o.log_every = 2;
  o.lr = 2e-4;
  return o;
}

tools::GANOptions narrow_gan(const std::string& loss) {
  tools::GANOptions g;
  g.loss = loss;
  g.z_dim = 16;
  g.g_width = 8;
  g.d_width = 8;
  return g;
}

}  // namespace

TEST(GANTraining, EveryLossSeparatesRealFromGeneratedAndStaysFinite) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  struct Case {
    const char* loss;
    double gp;
    int64_t n_critic;
    double chance;  // D's loss when it cannot tell real from generated (all logits 0)
  };
  // wasserstein: 2 critic steps a step here (5 by default) to keep the test short.
  const Case cases[] = {{"minimax", 0, 0, 2 * std::log(2.0)}, {"nonsaturating", 0, 0, 2 * std::log(2.0)},
                        {"kl", 0, 0, 2 * std::log(2.0)},      {"wasserstein", 0, 2, 0.0},
                        {"wasserstein", 10, 2, 10.0},         {"hinge", 0, 0, 2.0}};
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.loss) + (c.gp > 0 ? "-gp" : ""));
    const std::string out = temp_run(std::string("gan_") + c.loss + (c.gp > 0 ? "_gp" : ""));
    tools::CommonOptions o = tiny_run(out);
    o.limit = 512;  // 16 batches an epoch
    o.epochs = 4;
    o.max_steps = 16;
    tools::GANOptions g = narrow_gan(c.loss);
    g.gp = c.gp;
    g.n_critic = c.n_critic;
    const tools::RunSummary s = tools::train_gan(o, g);
    EXPECT_EQ(s.steps, 16);
    const double d_loss = s.last_means.at("d_loss"), g_loss = s.last_means.at("g_loss");
    const double d_real = s.last_means.at("d_real"), d_fake = s.last_means.at("d_fake");
    EXPECT_TRUE(std::isfinite(d_loss) && std::isfinite(g_loss)) << d_loss << " " << g_loss;
    // D has learnt to tell them apart: it scores real images higher, and its
    // loss is below the loss of a discriminator that cannot tell.
    EXPECT_GT(d_real, d_fake) << "D(x) " << d_real << ", D(G(z)) " << d_fake;
    if (c.gp == 0) {
      EXPECT_LT(d_loss, c.chance);
    }
    for (const auto& [name, t] : tools::load_gan_run(out, Device::cpu())->state_dict())
      for (float v : t.to_vector<float>()) ASSERT_TRUE(std::isfinite(v)) << name;
  }
}

TEST(GANTraining, WritesTheRunFolderAndSamples) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  const std::string out = temp_run("gan_folder");
  tools::CommonOptions o = tiny_run(out);
  o.epochs = 1;
  const tools::RunSummary s = tools::train_gan(o, narrow_gan("nonsaturating"));
  EXPECT_EQ(s.epochs_done, 1);
  EXPECT_EQ(s.steps, 8);
  for (const char* f : {"config.json", "metrics.csv", "log.txt", "samples/epoch_001.png",
                        "checkpoints/last.safetensors", "checkpoints/epoch_001.safetensors"})
    EXPECT_TRUE(std::filesystem::exists(out + "/" + f)) << f;
  std::ifstream csv(out + "/metrics.csv");
  std::string header;
  std::getline(csv, header);
  EXPECT_EQ(header, "kind,epoch,step,d_loss,g_loss,d_real,d_fake,gp,d_grad_norm,g_grad_norm,lr,it_per_s,time_s,peak_memory_mb");
  int step_rows = 0, epoch_rows = 0;
  for (std::string line; std::getline(csv, line);) {
    step_rows += line.rfind("step,", 0) == 0;
    epoch_rows += line.rfind("epoch,", 0) == 0;
  }
  EXPECT_EQ(step_rows, 4);  // every 2 steps
  EXPECT_EQ(epoch_rows, 1);
  // Checkpoints carry both optimizers under their prefixes.
  const SafetensorsContent ckpt = load_safetensors(out + "/checkpoints/last.safetensors");
  EXPECT_NE(ckpt.find("optim.G.step"), nullptr);
  EXPECT_NE(ckpt.find("optim.D.0.weight.exp_avg"), nullptr);
  // Samples: in [0,1], the same for the same seed.
  tools::SampleOptions so;
  so.n = 16;
  so.device = "cpu";
  const Tensor a = tools::sample_run(out, so), b = tools::sample_run(out, so);
  EXPECT_EQ(a.shape(), (Shape{16, 1, 28, 28}));
  EXPECT_GE(min(a).item(), 0.0);
  EXPECT_LE(max(a).item(), 1.0);
  EXPECT_EQ(a.to_vector<float>(), b.to_vector<float>());
  // A second run into the same folder without --resume is refused.
  EXPECT_THROW(tools::train_gan(o, narrow_gan("nonsaturating")), Error);
}

TEST(GANTraining, ResumeEndsWhereAnUninterruptedRunEnds) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  for (const bool gp : {false, true}) {
    SCOPED_TRACE(gp ? "wasserstein-gp, 2 critic steps" : "nonsaturating");
    tools::GANOptions g = narrow_gan(gp ? "wasserstein" : "nonsaturating");
    if (gp) {
      g.gp = 10;
      g.n_critic = 2;
    }
    const int64_t steps = gp ? 8 : 16;  // two epochs
    const std::string a = temp_run("gan_full"), b = temp_run("gan_resumed");
    EXPECT_EQ(tools::train_gan(tiny_run(a), g).steps, steps);
    // Stop mid-epoch, then resume to the end.
    tools::CommonOptions first = tiny_run(b);
    first.max_steps = steps / 2 + 1;
    EXPECT_EQ(tools::train_gan(first, g).steps, steps / 2 + 1);
    tools::CommonOptions rest = tiny_run(b);
    rest.resume = true;
    EXPECT_EQ(tools::train_gan(rest, g).steps, steps);
    const nn::NamedTensors pa = tools::load_gan_run(a, Device::cpu())->state_dict();
    const nn::NamedTensors pb = tools::load_gan_run(b, Device::cpu())->state_dict();
    ASSERT_EQ(pa.size(), pb.size());
    for (size_t i = 0; i < pa.size(); ++i)
      EXPECT_EQ(pa[i].second.to_vector<float>(), pb[i].second.to_vector<float>()) << pa[i].first;
  }
}

TEST(GANTraining, ANonFiniteLossStopsWithAClearError) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  const std::string out = temp_run("gan_nan");
  tools::CommonOptions o = tiny_run(out);
  o.epochs = 1;
  o.limit = 128;  // 4 steps
  // Adam moves every weight by about lr a step: 1e30 overflows D's output.
  o.lr = 1e30;
  try {
    tools::train_gan(o, narrow_gan("nonsaturating"));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    // "gan: g_loss became -nan at step 1; ..." (which loss and how the C
    // library prints NaN may vary; the form may not).
    const std::string message = e.what();
    EXPECT_EQ(message.rfind("gan: ", 0), 0u) << message;
    EXPECT_NE(message.find("_loss became "), std::string::npos) << message;
    EXPECT_NE(message.find(" at step "), std::string::npos) << message;
    EXPECT_NE(message.find("training diverged (try a lower --lr)"), std::string::npos) << message;
  }
}

// A checkpoint holding NaN (written after a divergence, or damaged) is
// refused by name when the run is resumed, before any step.
TEST(GANTraining, ResumingFromANonFiniteCheckpointIsRefused) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  const std::string out = temp_run("gan_nan_checkpoint");
  tools::CommonOptions o = tiny_run(out);
  o.epochs = 1;
  o.limit = 64;  // 2 steps
  tools::train_gan(o, narrow_gan("nonsaturating"));
  const std::string last = out + "/checkpoints/last.safetensors";
  SafetensorsContent ckpt = load_safetensors(last);
  for (auto& [name, t] : ckpt.tensors)
    if (name == "D.6.bias") t.fill_(std::nan(""));
  save_safetensors(last, ckpt.tensors, ckpt.metadata);
  o.resume = true;
  o.epochs = 2;
  try {
    tools::train_gan(o, narrow_gan("nonsaturating"));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'D.6.bias' holds NaN or infinite values"), std::string::npos) << e.what();
  }
}

TEST(Pixels, SignedImagesMapOntoTheUnitIntervalAndOvershootIsClamped) {
  const Tensor x = from_vector(std::vector<float>{-1.5f, -1, 0, 0.5f, 1, 2}, {6});
  EXPECT_EQ(models::signed_to_unit_pixels(x).to_vector<float>(), (std::vector<float>{0, 0, 0.5f, 0.75f, 1, 1}));
}
