// The VAE against its PyTorch twin (a fixture written by
// benchmarks/pytorch/vae.py --dump with Debian's PyTorch 1.13), and its
// training loop: a short run lowers the loss, and a resumed run ends where an
// uninterrupted one does.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <numbers>

#include "engine/io/safetensors.h"
#include "engine/nanogen.h"
#include "engine/optim/optimizer.h"
#include "models/vae.h"
#include "support/gradcheck.h"
#include "support/runs.h"
#include "tools/run_folder.h"
#include "tools/eval_models.h"
#include "tools/train_vae.h"

using namespace ng;
using test::devices;
using test::expect_close_rel;
using test::have_fashion_mnist;
using test::temp_run;

namespace {

const char* kFixture = "tests/fixtures/vae_parity.safetensors";

models::VAEConfig narrow_config() {
  models::VAEConfig c;
  c.z_dim = 4;
  c.hidden = 16;
  c.conv1 = 4;
  c.conv2 = 8;
  return c;
}

}  // namespace

TEST(VAEParity, LossGradientsAndAdamStepsMatchPyTorch) {
  const SafetensorsContent fx = load_safetensors(kFixture);
  for (const Device dev : devices()) {
    SCOPED_TRACE(dev.str());
    models::VAE model(narrow_config());
    model.load_state_dict(tools::with_prefix_removed(fx.tensors, "param."));
    model.to(dev);
    const Tensor x = fx.at("x").to(dev), eps = fx.at("eps").to(dev);

    const models::ELBOTerms t = model.loss(x, eps.select(0, 0));
    EXPECT_NEAR(t.loss.item(), fx.at("loss").item(), 2e-6 * std::fabs(fx.at("loss").item()));
    EXPECT_NEAR(t.recon.item(), fx.at("recon").item(), 2e-6 * std::fabs(fx.at("recon").item()));
    EXPECT_NEAR(t.kl.item(), fx.at("kl").item(), 1e-5 * std::fabs(fx.at("kl").item()) + 1e-6);
    t.loss.backward();
    for (const auto& [name, p] : model.named_parameters()) {
      ASSERT_TRUE(p.grad().defined()) << name;
      expect_close_rel(p.grad(), fx.at("grad." + name), 2e-5, 1e-7, "grad." + name);
    }

    optim::Adam opt(model.named_parameters(), {.lr = 1e-3});
    const std::vector<double> ref = fx.at("adam_losses").to_vector<double>();
    for (int k = 1; k <= 10; ++k) {
      opt.zero_grad();
      const Tensor loss = model.loss(x, eps.select(0, k)).loss;
      loss.backward();
      opt.step();
      EXPECT_NEAR(loss.item(), ref[size_t(k - 1)], 1e-5 * std::fabs(ref[size_t(k - 1)])) << "Adam step " << k;
    }
    for (const auto& [name, p] : model.state_dict())
      expect_close_rel(p, fx.at("final." + name), 1e-5, 1e-7, "final." + name);
  }
}

TEST(VAE, ErrorsNameTheShapes) {
  models::VAE model(narrow_config());
  try {
    model.loss(zeros({2, 3, 28, 28}), zeros({2, 4}));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[2,3,28,28]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(models::parse_likelihood("poisson"), Error);
}

TEST(VAE, GaussianDecoderIncludesTheNormaliser) {
  // With the decoder output equal to x, the reconstruction term is exactly
  // the Gaussian log-normaliser: D * (log sigma + log(2 pi) / 2) per image.
  models::VAEConfig c = narrow_config();
  c.likelihood = models::Likelihood::gaussian_fixed;
  c.sigma = 0.5;
  models::VAE model(c);
  const Tensor x = test::uniform({2, 1, 28, 28}, 3, 0, 1, DType::f32);
  const Tensor mean = x.clone();
  const Tensor nll = gaussian_nll(x, mean, exp(model.log_sigma * 2.0), Reduction::sum) * 0.5;
  EXPECT_NEAR(nll.item(), 784 * (std::log(0.5) + 0.5 * std::log(2 * std::numbers::pi)), 1e-2);
}

namespace {

tools::CommonOptions tiny_run(const std::string& out) {
  tools::CommonOptions o;
  o.out = out;
  o.device = "cpu";
  o.epochs = 2;
  o.batch_size = 32;
  o.limit = 256;  // 8 steps an epoch
  o.test_limit = 64;
  o.log_every = 4;
  o.lr = 2e-3;
  return o;
}

}  // namespace

// A precision the device cannot run stops `nanogen train` before it creates
// anything.
TEST(VAETraining, APrecisionTheDeviceLacksIsAnErrorBeforeAnyWork) {
  const std::string out = temp_run("vae_precision");
  tools::CommonOptions o = tiny_run(out);
  o.precision = "tf32";
  try {
    tools::train_vae(o, {});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--precision tf32"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(out));
}

TEST(VAETraining, ShortRunLowersTheLossAndWritesTheRunFolder) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  const std::string out = temp_run("vae_short");
  tools::CommonOptions o = tiny_run(out);
  o.epochs = 3;
  o.limit = 1024;
  const tools::VAESummary s = tools::train_vae(o, {});
  EXPECT_EQ(s.epochs_done, 3);
  EXPECT_EQ(s.steps, 96);
  // An untrained VAE scores about 545 nats/image; a few steps bring it far below.
  EXPECT_LT(s.test.loss, 400.0);
  EXPECT_GT(s.test.loss, 100.0);
  for (const char* f : {"config.json", "metrics.csv", "log.txt", "samples/epoch_003.png", "samples/recon_003.png",
                        "checkpoints/last.safetensors", "checkpoints/epoch_001.safetensors"})
    EXPECT_TRUE(std::filesystem::exists(out + "/" + f)) << f;
  // A second run into the same folder without --resume is refused.
  EXPECT_THROW(tools::train_vae(o, {}), Error);
}

TEST(VAETraining, ResumeEndsWhereAnUninterruptedRunEnds) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  const std::string a = temp_run("vae_full"), b = temp_run("vae_resumed");
  tools::train_vae(tiny_run(a), {});
  // Stop mid-epoch (step 5 of 8), then resume to the end.
  tools::CommonOptions first = tiny_run(b);
  first.max_steps = 5;
  EXPECT_EQ(tools::train_vae(first, {}).steps, 5);
  tools::CommonOptions rest = tiny_run(b);
  rest.resume = true;
  EXPECT_EQ(tools::train_vae(rest, {}).steps, 16);
  const auto full = tools::load_vae_run(a, Device::cpu());
  const auto resumed = tools::load_vae_run(b, Device::cpu());
  const nn::NamedTensors pa = full->state_dict(), pb = resumed->state_dict();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i)
    EXPECT_EQ(pa[i].second.to_vector<float>(), pb[i].second.to_vector<float>()) << pa[i].first;
}
