// The DDPM's U-Net against its PyTorch twin (a fixture written by
// benchmarks/pytorch/ddpm.py --dump with Debian's PyTorch 1.13), and its
// training loop: a short run lowers the loss, and a resumed run ends where an
// uninterrupted one does.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "engine/io/safetensors.h"
#include "engine/nanogen.h"
#include "engine/optim/optimizer.h"
#include "models/diffusion.h"
#include "models/unet.h"
#include "tools/cli.h"
#include "tools/run_folder.h"
#include "tools/sample.h"
#include "tools/eval_models.h"
#include "tools/train_ddpm.h"
#include "support/runs.h"

using namespace ng;
using test::devices;
using test::expect_close_rel;
using test::have_fashion_mnist;
using test::temp_run;

namespace {

const char* kFixture = "tests/fixtures/ddpm_parity.safetensors";

Tensor steps(const std::vector<int64_t>& t) { return models::timestep_tensor(t, Device::cpu()); }

// The narrow U-Net of the fixture (NARROW in ddpm.py).
models::UNetConfig narrow_config() {
  models::UNetConfig c;
  c.height = c.width = 8;
  c.base = 6;
  c.mults = {1, 2};
  c.attention_res = {4};
  c.temb_dim = 12;
  c.groups = 3;
  return c;
}

std::vector<int64_t> row_of(const Tensor& t, int64_t k) {
  std::vector<int64_t> out;
  for (double v : t.select(0, k).to_vector<double>()) out.push_back(int64_t(v));
  return out;
}

}  // namespace

TEST(DDPMParity, LossGradientsAndAdamStepsMatchPyTorch) {
  const SafetensorsContent fx = load_safetensors(kFixture);
  const models::Diffusion diffusion;  // linear, T = 1000
  for (const Device dev : devices()) {
    SCOPED_TRACE(dev.str());
    models::UNet model(narrow_config());
    model.load_state_dict(tools::with_prefix_removed(fx.tensors, "param."));
    model.to(dev);
    const Tensor x0 = fx.at("x0").to(dev), eps = fx.at("eps").to(dev), t = fx.at("t");
    const models::EpsPredictor net = [&](const Tensor& x, const Tensor& ts) { return model.forward(x, ts); };

    const Tensor loss = diffusion.loss(net, x0, row_of(t, 0), eps.select(0, 0));
    EXPECT_NEAR(loss.item(), fx.at("loss").item(), 1e-5 * std::fabs(fx.at("loss").item()));
    loss.backward();
    for (const auto& [name, p] : model.named_parameters()) {
      ASSERT_TRUE(p.grad().defined()) << name;
      expect_close_rel(p.grad(), fx.at("grad." + name), 1e-5, 1e-8, "grad." + name);
    }

    optim::Adam opt(model.named_parameters(), {.lr = 1e-3});
    const std::vector<double> ref = fx.at("adam_losses").to_vector<double>();
    for (int k = 1; k <= 10; ++k) {
      opt.zero_grad();
      const Tensor l = diffusion.loss(net, x0, row_of(t, k), eps.select(0, k));
      l.backward();
      opt.step();
      EXPECT_NEAR(l.item(), ref[size_t(k - 1)], 1e-5 * std::fabs(ref[size_t(k - 1)])) << "Adam step " << k;
    }
    // Final weights. Adam divides by sqrt(v), so an element whose gradient is
    // near zero at some step moves by an amount rounding decides (down to the
    // last bit of every exp: SLEEF's here, PyTorch's own there): every element
    // must be within a quarter of one step (lr 1e-3), and all but 0.1% within
    // a hundredth of one (most agree to 1e-6). The key biases (the middle third of
    // qkv.bias) are left out of the count: softmax is invariant to them, so their
    // gradient is zero up to rounding and Adam moves them by noise.
    int64_t loose = 0, total = 0;
    for (const auto& [name, p] : model.state_dict()) {
      const std::vector<double> a = p.to_vector<double>(), e = fx.at("final." + name).to_vector<double>();
      const bool qkv_bias = name.ends_with("qkv.bias");
      for (size_t i = 0; i < a.size(); ++i) {
        const bool key_bias = qkv_bias && i >= a.size() / 3 && i < 2 * a.size() / 3;
        EXPECT_NEAR(a[i], e[i], 2.5e-4) << "final." << name << " element " << i;
        if (key_bias) continue;
        ++total;
        loose += std::fabs(a[i] - e[i]) > 1e-5;
      }
    }
    EXPECT_LE(loose, total / 1000) << loose << " of " << total << " final weights differ by more than 1e-5";
  }
}

TEST(UNet, CanonicalModelHasThePyTorchTwinsParameters) {
  // 3,296,961 parameters, as benchmarks/pytorch/ddpm.py --params prints.
  const models::UNet model{models::UNetConfig{}};
  EXPECT_EQ(model.num_parameters(), 3296961);
  const nn::NamedTensors p = model.named_parameters();
  EXPECT_EQ(p.front().first, "time_mlp.0.weight");
  EXPECT_EQ(p.back().first, "out_conv.bias");
  std::map<std::string, Shape> shapes;
  for (const auto& [n, t] : p) shapes[n] = t.shape();
  EXPECT_EQ(shapes.at("down.2.attn.0.qkv.weight"), (Shape{384, 128, 1, 1}));
  EXPECT_EQ(shapes.at("up.0.res.0.skip.weight"), (Shape{64, 192, 1, 1}));  // 128 from below + 64 skipped
  EXPECT_EQ(shapes.at("down.1.down.weight"), (Shape{128, 128, 3, 3}));
  EXPECT_EQ(shapes.count("down.0.attn.0.qkv.weight"), 0u);  // no attention at 28x28
  EXPECT_EQ(shapes.count("down.2.down.weight"), 0u);        // nor a downsampling after the last level
}

TEST(UNet, ColourImagesAndMoreBlocks) {
  // 32x32x3 with two blocks a level and attention at 16 and 8.
  models::UNetConfig c;
  c.channels = 3;
  c.height = c.width = 32;
  c.base = 8;
  c.blocks = 2;
  c.attention_res = {16, 8};
  c.temb_dim = 16;
  c.groups = 4;
  models::UNet model(c);
  Generator gen(1);
  const Tensor x = randn({2, 3, 32, 32}, gen);
  const Tensor eps = model.forward(x, steps({1, 1000}));
  EXPECT_EQ(eps.shape(), (Shape{2, 3, 32, 32}));
  // Different timesteps give different outputs (the embedding reaches the output).
  const Tensor again = model.forward(x, steps({500, 1000}));
  EXPECT_NE(eps.select(0, 0).to_vector<float>(), again.select(0, 0).to_vector<float>());
  EXPECT_EQ(eps.select(0, 1).to_vector<float>(), again.select(0, 1).to_vector<float>());
}

// The embedding is computed from the steps where they live: sin and cos of
// t f_k in float64, rounded once to float32, as the host formula does.
TEST(UNet, TimestepEmbeddingIsTheSinusoidOfTheStep) {
  const std::vector<int64_t> t = {1, 2, 17, 500, 999, 1000, 4000};
  const int64_t dim = 12, half = dim / 2;
  const Tensor freqs = models::timestep_frequencies(dim, Device::cpu());
  for (DType dt : {DType::f64, DType::f32}) {
    const Tensor e = models::timestep_embedding(steps(t).to(dt), freqs);
    ASSERT_EQ(e.shape(), (Shape{int64_t(t.size()), dim}));
    EXPECT_EQ(e.dtype(), DType::f32);
    const std::vector<float> got = e.to_vector<float>();
    for (size_t i = 0; i < t.size(); ++i)
      for (int64_t k = 0; k < half; ++k) {
        const double arg = double(t[i]) * std::exp(-std::log(10000.0) * double(k) / double(half - 1));
        EXPECT_EQ(got[i * size_t(dim) + size_t(k)], float(std::sin(arg))) << "t " << t[i] << " k " << k;
        EXPECT_EQ(got[i * size_t(dim) + size_t(half + k)], float(std::cos(arg))) << "t " << t[i] << " k " << k;
      }
  }
  EXPECT_THROW(models::timestep_frequencies(5, Device::cpu()), Error);  // odd
  EXPECT_THROW(models::timestep_embedding(zeros({2, 1}), freqs), Error);  // not 1-d
  EXPECT_THROW(models::timestep_embedding(steps(t), freqs.to(DType::f32)), Error);
}

TEST(UNet, ErrorsNameTheShapes) {
  models::UNet model(narrow_config());
  try {
    model.forward(zeros({2, 3, 8, 8}), steps({1, 2}));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[2,3,8,8]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(model.forward(zeros({2, 1, 8, 8}), steps({1})), Error);  // one t per image
  models::UNetConfig c = narrow_config();
  c.height = c.width = 9;  // cannot be halved
  EXPECT_THROW(models::UNet{c}, Error);
  c = narrow_config();
  c.groups = 4;  // does not divide 6 channels
  try {
    models::UNet{c};
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("do not divide 6"), std::string::npos) << e.what();
  }
  EXPECT_THROW(tools::parse_int_list("1,x,2", "--channel-mults"), Error);
  EXPECT_THROW(tools::parse_int_list("1,,2", "--channel-mults"), Error);
  EXPECT_THROW(tools::parse_int_list("1,2x", "--channel-mults"), Error);
  EXPECT_THROW(tools::parse_int_list("", "--channel-mults"), Error);
  EXPECT_THROW(tools::parse_int_list("99999999999999999999", "--channel-mults"), Error);
  EXPECT_EQ(tools::parse_int_list("1,2,2", "--channel-mults"), (std::vector<int64_t>{1, 2, 2}));
  EXPECT_EQ(tools::parse_int_list(" 7, -1 ", "--attention-res"), (std::vector<int64_t>{7, -1}));
}

namespace {

tools::CommonOptions tiny_run(const std::string& out) {
  tools::CommonOptions o;
  o.out = out;
  o.device = "cpu";
  o.epochs = 2;
  o.batch_size = 16;
  o.limit = 128;  // 8 steps an epoch
  o.test_limit = 16;
  o.log_every = 4;
  o.lr = 1e-3;
  return o;
}

// A narrow U-Net on 28x28: channels 8, 16 and attention at 14x14.
tools::DDPMOptions tiny_ddpm() {
  tools::DDPMOptions o;
  o.base_channels = 8;
  o.channel_mults = "1,2";
  o.attention_res = "14";
  o.groups = 4;
  o.ema_decay = 0.99;
  o.sample_steps = 2;
  o.bound_images = 4;
  o.bound_timesteps = 2;
  return o;
}

}  // namespace

TEST(DDPMTraining, ShortRunLowersTheLossAndWritesTheRunFolder) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  const std::string out = temp_run("ddpm_short");
  tools::CommonOptions o = tiny_run(out);
  o.epochs = 3;
  const tools::DDPMSummary s = tools::train_ddpm(o, tiny_ddpm());
  EXPECT_EQ(s.epochs_done, 3);
  EXPECT_EQ(s.steps, 24);
  // L_simple starts near 1 (a predictor that knows nothing); 24 steps take it well below.
  EXPECT_GT(s.first_epoch_loss, 0.6);
  EXPECT_LT(s.last_epoch_loss, s.first_epoch_loss - 0.1);
  ASSERT_EQ(s.bound.images, 4);
  EXPECT_GT(s.bound.total, 1.0);  // bits/dim: positive and finite
  EXPECT_LT(s.bound.total, 100.0);
  EXPECT_NEAR(s.bound.total, s.bound.prior + s.bound.diffusion + s.bound.decoder, 1e-9);
  for (const char* f : {"config.json", "metrics.csv", "log.txt", "samples/epoch_003.png", "samples/trajectory_003.png",
                        "checkpoints/last.safetensors", "checkpoints/epoch_001.safetensors"})
    EXPECT_TRUE(std::filesystem::exists(out + "/" + f)) << f;
  // The checkpoint holds the EMA weights, and sampling from the run works with both samplers.
  const SafetensorsContent ckpt = load_safetensors(out + "/checkpoints/last.safetensors");
  EXPECT_NO_THROW(ckpt.at("ema.updates"));
  EXPECT_EQ(ckpt.at("ema.updates").item(), 24.0);
  EXPECT_NO_THROW(ckpt.at("ema.stem.weight"));
  tools::SampleOptions so;
  so.n = 2;
  so.device = "cpu";
  so.steps = 3;
  for (const char* sampler : {"ancestral", "ddim"}) {
    so.sampler = sampler;
    const Tensor img = tools::sample_run(out, so);
    EXPECT_EQ(img.shape(), (Shape{2, 1, 28, 28}));
    EXPECT_GE(min(img).item(), 0.0);
    EXPECT_LE(max(img).item(), 1.0);
  }
  // A second run into the same folder without --resume is refused.
  EXPECT_THROW(tools::train_ddpm(o, tiny_ddpm()), Error);
}

TEST(DDPMTraining, ResumeEndsWhereAnUninterruptedRunEnds) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  const std::string a = temp_run("ddpm_full"), b = temp_run("ddpm_resumed");
  tools::DDPMOptions opts = tiny_ddpm();
  opts.dropout = 0.1;  // the dropout masks come from the checkpointed stream too
  opts.bound_images = 0;
  tools::train_ddpm(tiny_run(a), opts);
  // Stop mid-epoch (step 5 of 8), then resume to the end.
  tools::CommonOptions first = tiny_run(b);
  first.max_steps = 5;
  EXPECT_EQ(tools::train_ddpm(first, opts).steps, 5);
  tools::CommonOptions rest = tiny_run(b);
  rest.resume = true;
  EXPECT_EQ(tools::train_ddpm(rest, opts).steps, 16);
  for (const bool ema : {false, true}) {
    const tools::DDPMRun full = tools::load_ddpm_run(a, Device::cpu(), ema);
    const tools::DDPMRun resumed = tools::load_ddpm_run(b, Device::cpu(), ema);
    const nn::NamedTensors pa = full.model->state_dict(), pb = resumed.model->state_dict();
    ASSERT_EQ(pa.size(), pb.size());
    for (size_t i = 0; i < pa.size(); ++i)
      EXPECT_EQ(pa[i].second.to_vector<float>(), pb[i].second.to_vector<float>()) << pa[i].first << " ema " << ema;
  }
}
