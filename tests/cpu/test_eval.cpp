// nanogen eval: the wiring of samples, test and training images into the
// metrics (checked with stand-in generators whose answers are known), and
// the three real models end to end on tiny runs.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <numeric>

#include "engine/data/datasets.h"
#include "engine/nanogen.h"
#include "support/gradcheck.h"
#include "support/runs.h"
#include "tools/eval.h"
#include "tools/eval_models.h"
#include "tools/train_ddpm.h"
#include "tools/train_gan.h"
#include "tools/train_vae.h"

using namespace ng;
using namespace ng::tools;
using json = nlohmann::json;

namespace {

// A "generator" that hands out the training images in order, or one of them
// over and over (total mode collapse).
class StandIn : public EvaluatedModel {
 public:
  StandIn(Tensor images, bool collapse) : images_(std::move(images)), collapse_(collapse) {}
  Tensor sample(int64_t n, Generator&, const models::Labels&) override {
    Tensor out = collapse_ ? images_.narrow(0, 0, 1).expand({n, 1, 28, 28}).contiguous() : images_.narrow(0, next_, n);
    next_ += n;
    return out;
  }
  int64_t parameters() const override { return 7; }
  BitsPerDim bits_per_dim(const Tensor& test, const EvalOptions&) override {
    BitsPerDim b;
    b.value = 8.0;  // a uniform distribution over the 256 levels
    b.images = test.size(0);
    b.note = "uniform";
    return b;
  }

 private:
  Tensor images_;
  bool collapse_;
  int64_t next_ = 0;
};

// A "conditional generator" that answers a request for class y with the
// next training image of class (y + shift) mod 10: shift 0 is a perfect
// conditional model, shift 1 one that always draws the wrong class.
class ConditionalStandIn : public EvaluatedModel {
 public:
  ConditionalStandIn(Dataset train, int shift) : train_(std::move(train)), shift_(shift) {
    conditioning = {10, train_.class_names};
  }
  Tensor sample(int64_t n, Generator&, const models::Labels& y) override {
    EXPECT_EQ(int64_t(y.size()), n);
    std::vector<Tensor> out;
    for (const int64_t label : y) {
      const int wanted = int((label + shift_) % 10);
      while (train_.labels[size_t(next_)] != wanted) ++next_;
      out.push_back(train_.images.narrow(0, next_++, 1));
      if (next_ >= train_.size() - 1) next_ = 0;
    }
    return cat(out, 0);
  }
  int64_t parameters() const override { return 1; }
  BitsPerDim bits_per_dim(const Tensor&, const EvalOptions&) override { return {}; }

 private:
  Dataset train_;
  int shift_;
  int64_t next_ = 0;
};

// A run folder with a config.json and a metrics.csv of two epochs.
std::string stand_in_run(const std::string& name) {
  const std::string run = test::temp_run(name);
  std::filesystem::create_directories(run);
  std::ofstream(run + "/config.json") << R"({"model": "stand-in", "common": {"data": "fashion-mnist"}, "image": [1, 28, 28]})";
  std::ofstream(run + "/metrics.csv") << "kind,epoch,step,loss,time_s,peak_memory_mb\n"
                                         "step,1,10,3.5,,\n"
                                         "epoch,1,20,3.0,12.5,100\n"
                                         "step,2,30,2.5,,\n"
                                         "epoch,2,40,2.0,7.5,150\n"
                                         "stop,3,45,,5,170\n";  // cut short by --time-limit
  return run;
}

EvalOptions small_eval() {
  EvalOptions o;
  o.n = 300;
  o.batch_size = 128;
  o.device = "cpu";
  o.test_limit = 300;
  o.bound_images = 50;
  o.nearest_queries = 3;
  o.nearest_k = 2;
  return o;
}

}  // namespace

TEST(Eval, TrainingImagesAsSamplesScoreExactlyLikeTheRealDataReference) {
  if (!test::have_fashion_mnist()) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  const std::string run = stand_in_run("eval_stand_in");
  StandIn model(load_dataset("fashion-mnist", "train").images, false);
  const json r = evaluate_model(model, run, Device::cpu(), small_eval());

  // The samples are the first 300 training images, which is the reference's
  // "train" set: every sample metric equals its real-data reference.
  const json& m = r["metrics"];
  const json& ref = r["reference"];
  EXPECT_DOUBLE_EQ(m["fid"].get<double>(), ref["fid_train_vs_test"].get<double>());
  EXPECT_DOUBLE_EQ(m["kid_mean"].get<double>(), ref["kid_train_vs_test"].get<double>());
  EXPECT_DOUBLE_EQ(m["precision"].get<double>(), ref["precision_train_vs_test"].get<double>());
  EXPECT_DOUBLE_EQ(m["recall"].get<double>(), ref["recall_train_vs_test"].get<double>());
  EXPECT_GT(m["fid"].get<double>(), 0.0);
  EXPECT_EQ(m["classes_covered"], 10);
  EXPECT_EQ(m["bits_per_dim"], 8.0);
  EXPECT_EQ(m["bits_per_dim_images"], 50);
  // Each sample is a training image: its nearest one is itself, at distance 0.
  ASSERT_EQ(r["nearest"].size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(r["nearest"][i]["index"][0], i);
    EXPECT_EQ(r["nearest"][i]["distance"][0], 0.0);
  }
  EXPECT_EQ(m["nn_distance_median"], 0.0);
  EXPECT_GT(m["nn_distance_median_test"].get<double>(), 1.0);
  // The classifier is the shipped one, measured again on these test images.
  EXPECT_GT(r["classifier"]["test_accuracy"].get<double>(), 0.85);
  EXPECT_EQ(r["classifier"]["feature_dim"], 128);
  // Costs: time summed over the epoch and stop rows of metrics.csv, the
  // completed epochs, the last step, the largest peak (the stop row's too).
  const json& c = r["costs"];
  EXPECT_EQ(c["train_time_s"], 25.0);
  EXPECT_EQ(c["epochs"], 2);
  EXPECT_EQ(c["train_steps"], 45);
  EXPECT_EQ(c["train_peak_memory_mb"], 170.0);
  EXPECT_EQ(c["parameters"], 7);
  EXPECT_GT(c["sample_time_per_image_ms"].get<double>(), 0.0);
  // What compare reads.
  std::ifstream in(run + "/eval.json");
  EXPECT_EQ(json::parse(in), r);
  EXPECT_TRUE(std::filesystem::exists(run + "/eval/samples.png"));
  EXPECT_TRUE(std::filesystem::exists(run + "/eval/nearest.png"));
  EXPECT_TRUE(r["images"]["trajectory"].is_null());
  const std::string table = eval_table(r);
  EXPECT_NE(table.find("FID"), std::string::npos);
  EXPECT_NE(table.find("8.000"), std::string::npos);
}

TEST(Eval, ModeCollapseShowsInCoverageRecallAndFid) {
  if (!test::have_fashion_mnist()) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  const std::string run = stand_in_run("eval_collapse");
  StandIn model(load_dataset("fashion-mnist", "train").images, true);
  const json r = evaluate_model(model, run, Device::cpu(), small_eval());
  const json& m = r["metrics"];
  EXPECT_EQ(m["classes_covered"], 1);
  EXPECT_NEAR(m["marginal_entropy"].get<double>(), m["conditional_entropy"].get<double>(), 1e-9);
  EXPECT_NEAR(m["classifier_score"].get<double>(), 1.0, 1e-9);
  EXPECT_LT(m["recall"].get<double>(), 0.05);
  EXPECT_GT(m["fid"].get<double>(), 10 * r["reference"]["fid_train_vs_test"].get<double>());
}

TEST(Eval, ConditionalModelsAreScoredOnTheClassTheyWereAskedFor) {
  if (!test::have_fashion_mnist()) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  const Dataset train = load_dataset("fashion-mnist", "train");
  EvalOptions o = small_eval();
  o.n = 200;
  o.bound_images = 0;

  ConditionalStandIn right(train, 0);
  const json r = evaluate_model(right, stand_in_run("eval_conditional_right"), Device::cpu(), o);
  // Real images of the class asked for: the classifier's own accuracy
  // (0.92 on the test split), each of the 10 classes drawn 20 times.
  const json& m = r["metrics"];
  EXPECT_GT(m["class_accuracy"].get<double>(), 0.85);
  ASSERT_EQ(m["class_accuracy_per_class"].size(), 10u);
  EXPECT_EQ(m["class_accuracy_per_class"][7]["name"], "Sneaker");
  double mean = 0;
  for (const json& c : m["class_accuracy_per_class"]) mean += c["accuracy"].get<double>() / 10;
  EXPECT_NEAR(mean, m["class_accuracy"].get<double>(), 1e-12);  // equal counts per class
  EXPECT_EQ(m["classes_covered"], 10);
  EXPECT_NE(eval_table(r).find("class accuracy"), std::string::npos);

  ConditionalStandIn wrong(train, 1);
  const json w = evaluate_model(wrong, stand_in_run("eval_conditional_wrong"), Device::cpu(), o);
  // The same images as far as FID knows (every class, evenly), but never the class asked for.
  EXPECT_LT(w["metrics"]["class_accuracy"].get<double>(), 0.15);
  EXPECT_EQ(w["metrics"]["classes_covered"], 10);

  // An unconditional model has no class accuracy.
  StandIn plain(train.images, false);
  const json u = evaluate_model(plain, stand_in_run("eval_unconditional"), Device::cpu(), o);
  EXPECT_TRUE(u["metrics"]["class_accuracy"].is_null());
  EXPECT_TRUE(u["metrics"]["class_accuracy_per_class"].is_null());
  EXPECT_EQ(eval_table(u).find("class accuracy"), std::string::npos);
}

TEST(Eval, TinyRunsOfTheThreeModelsEndToEnd) {
  if (!test::have_fashion_mnist()) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  CommonOptions c;
  c.device = "cpu";
  c.epochs = 1;
  c.batch_size = 16;
  c.limit = 64;
  c.test_limit = 16;
  EvalOptions o = small_eval();
  o.n = 40;
  o.test_limit = 40;
  o.bound_images = 4;
  o.bound_timesteps = 2;
  o.steps = 2;
  o.iw_samples = 2;

  c.out = test::temp_run("eval_vae");
  train_vae(c, VAEOptions{.likelihood = "gaussian-learned"});
  const json vae = evaluate_run(c.out, o);
  EXPECT_EQ(vae["model"], "vae");
  EXPECT_TRUE(vae["metrics"]["bits_per_dim"].is_number());
  EXPECT_GT(vae["costs"]["parameters"].get<int64_t>(), 100000);

  c.out = test::temp_run("eval_gan");
  GANOptions g;
  g.g_width = g.d_width = 8;
  train_gan(c, g);
  const json gan = evaluate_run(c.out, o);
  EXPECT_TRUE(gan["metrics"]["bits_per_dim"].is_null());
  EXPECT_NE(gan["metrics"]["bits_per_dim_note"].get<std::string>().find("no likelihood"), std::string::npos);
  EXPECT_GT(gan["costs"]["extra_parameters"].get<int64_t>(), 0);

  c.out = test::temp_run("eval_ddpm");
  DDPMOptions d;
  d.base_channels = 8;
  d.channel_mults = "1,2";
  d.attention_res = "14";
  d.groups = 4;
  d.sample_steps = 2;
  d.bound_images = 0;
  train_ddpm(c, d);
  const json ddpm = evaluate_run(c.out, o);
  EXPECT_EQ(ddpm["sampler"]["name"], "ddim");
  EXPECT_EQ(ddpm["sampler"]["steps"], 2);
  EXPECT_TRUE(ddpm["metrics"]["bits_per_dim"].is_number());
  EXPECT_EQ(ddpm["images"]["trajectory"], "eval/trajectory.png");
  EXPECT_TRUE(std::filesystem::exists(c.out + "/eval/trajectory.png"));
  for (const json* r : {&vae, &gan, &ddpm}) {
    EXPECT_GE((*r)["metrics"]["fid"].get<double>(), 0.0);
    EXPECT_EQ((*r)["n"], 40);
  }
}

// The defaults a user gets without flags: the usual 10000 samples, except a
// DDPM on a CPU (minutes, not hours); the same DDIM steps for sample and eval.
TEST(Eval, DefaultsAreSizedForTheModelAndTheDevice) {
  const Device cpu = Device::cpu(), gpu = Device::cuda(0);
  const EvalOptions ddpm_cpu = with_defaults(EvalOptions{}, "ddpm", cpu);
  EXPECT_EQ(ddpm_cpu.n, 1000);
  EXPECT_EQ(ddpm_cpu.bound_images, 50);
  EXPECT_EQ(ddpm_cpu.bound_timesteps, 20);
  for (const auto& [model, device] : {std::pair{"ddpm", gpu}, std::pair{"vae", cpu}, std::pair{"gan", cpu}}) {
    const EvalOptions o = with_defaults(EvalOptions{}, model, device);
    EXPECT_EQ(o.n, 10000) << model;
    EXPECT_EQ(o.bound_images, 1000) << model;
    EXPECT_EQ(o.bound_timesteps, 100) << model;
  }
  EvalOptions asked;
  asked.n = 64;
  asked.bound_images = 0;
  asked.bound_timesteps = 7;
  const EvalOptions kept = with_defaults(asked, "ddpm", cpu);
  EXPECT_EQ(kept.n, 64);
  EXPECT_EQ(kept.bound_images, 0);
  EXPECT_EQ(kept.bound_timesteps, 7);

  EXPECT_EQ(default_sampling_steps(models::Sampler::ddim, cpu), 20);
  EXPECT_EQ(default_sampling_steps(models::Sampler::ddim, gpu), 100);
  EXPECT_EQ(default_sampling_steps(models::Sampler::ancestral, cpu), 0);  // the whole chain
}

// --vae-output: the VAE's decoder means (the default), draws from p(x|z), or
// reconstructions of the test images in order (z ~ q(z|x)), each as the
// model computes it by hand.
TEST(Eval, VaeOutputsAreMeansDrawsOrReconstructions) {
  if (!test::have_fashion_mnist()) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  CommonOptions c;
  c.device = "cpu";
  c.epochs = 1;
  c.batch_size = 16;
  c.limit = 32;
  c.test_limit = 16;
  const std::string gaussian_run = c.out = test::temp_run("eval_vae_outputs_gaussian");
  train_vae(c, VAEOptions{.likelihood = "gaussian", .sigma = 0.1});
  c.out = test::temp_run("eval_vae_outputs");
  train_vae(c, VAEOptions{});  // Bernoulli
  const std::unique_ptr<models::VAE> vae = load_vae_run(c.out, Device::cpu());
  const Tensor test = load_dataset_limited("fashion-mnist", "test", 8).images;
  EvalOptions o;
  auto samples = [&](const std::string& output, int64_t n) {
    o.vae_output = output;
    const std::unique_ptr<EvaluatedModel> model = open_evaluated_model(c.out, Device::cpu(), o);
    model->see_test_images(test);
    Generator gen(7);
    return model->sample(n, gen, {});
  };
  NoGradGuard no_grad;
  Generator gen(7);
  const Tensor z = randn({5, vae->config().z_dim}, gen);
  const Tensor mean = vae->generate(z);
  EXPECT_EQ(samples("mean", 5).to_vector<float>(), mean.to_vector<float>());

  const std::vector<float> drawn = samples("draw", 5).to_vector<float>();
  for (const float v : drawn) ASSERT_TRUE(v == 0.0f || v == 1.0f) << v;
  const double drawn_mean = std::accumulate(drawn.begin(), drawn.end(), 0.0) / double(drawn.size());
  const std::vector<float> p = mean.to_vector<float>();
  EXPECT_NEAR(drawn_mean, std::accumulate(p.begin(), p.end(), 0.0) / double(p.size()), 0.05);  // 3920 pixels

  gen = Generator(7);
  const auto [mu, logvar] = vae->encode(test.narrow(0, 0, 5));
  const Tensor reconstructed = vae->generate(models::reparameterize(mu, logvar, randn(mu.shape(), gen)));
  EXPECT_EQ(samples("reconstruction", 5).to_vector<float>(), reconstructed.to_vector<float>());

  test::expect_error([&] { samples("reconstruction", 9); }, {"--vae-output reconstruction needs --n (9)", "(8)"});
  test::expect_error([&] { samples("decoder", 1); }, {"--vae-output must be mean, draw or reconstruction"});

  // A Gaussian decoder's draws: its mean plus noise of its sigma (0.1), clamped to [0, 1].
  c.out = gaussian_run;
  const std::unique_ptr<models::VAE> gaussian = load_vae_run(c.out, Device::cpu());
  gen = Generator(7);
  const Tensor decoded = gaussian->decode(randn({5, gaussian->config().z_dim}, gen));
  const Tensor noise = randn(decoded.shape(), gen);
  const std::vector<float> draws = samples("draw", 5).to_vector<float>();
  const std::vector<float> d = decoded.to_vector<float>(), e = noise.to_vector<float>();
  for (size_t i = 0; i < draws.size(); ++i)
    ASSERT_NEAR(draws[i], std::clamp(d[i] + 0.1f * e[i], 0.0f, 1.0f), 1e-6) << i;  // sigma = exp(log 0.1)
}
