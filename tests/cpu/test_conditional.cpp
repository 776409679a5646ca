// The class-conditional models (models/vae.h, gan.h, unet.h with classes >
// 0), classifier-free guidance (models/guidance.h), the class grid and the
// --class parser (tools/class_grid.h), and conditional runs end to end:
// train, sample a class, evaluate.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "engine/io/image.h"
#include "engine/io/safetensors.h"
#include "engine/nanogen.h"
#include "models/gan.h"
#include "models/guidance.h"
#include "models/unet.h"
#include "models/vae.h"
#include "support/gradcheck.h"
#include "support/runs.h"
#include "tools/class_grid.h"
#include "tools/eval.h"
#include "tools/eval_models.h"
#include "tools/sample.h"
#include "tools/train_ddpm.h"
#include "tools/train_gan.h"
#include "tools/train_vae.h"

using namespace ng;
using ng::test::error_of;
using ng::test::expect_error;

namespace {

models::VAEConfig small_vae(int64_t classes) {
  models::VAEConfig c;
  c.z_dim = 4;
  c.hidden = 16;
  c.conv1 = 4;
  c.conv2 = 8;
  c.classes = classes;
  return c;
}

models::UNetConfig small_unet(int64_t classes) {
  models::UNetConfig c;
  c.base = 8;
  c.mults = {1, 2};
  c.attention_res = {};
  c.groups = 4;
  c.temb_dim = 16;
  c.classes = classes;
  return c;
}

Tensor images(int64_t n, uint64_t seed) { return test::uniform({n, 1, 28, 28}, seed, 0, 1, DType::f32); }

double max_abs_diff(const Tensor& a, const Tensor& b) { return max(abs(a - b)).item(); }

// Rows y of w, picked by narrow (not by the embedding under test).
Tensor rows_of(const Tensor& w, const models::Labels& y) {
  std::vector<Tensor> rows;
  for (const int64_t i : y) rows.push_back(w.narrow(0, i, 1));
  return cat(rows, 0);
}

}  // namespace

TEST(ConditionalVAE, TheLabelEntersBothNetworksAsAConcatenatedOneHot) {
  Generator gen(1);
  models::VAE model(small_vae(10), gen);
  const Tensor x = images(3, 2);
  const models::Labels y = {7, 0, 7};
  // Each network run by hand with its first fully connected layer fed
  // [input, one_hot(y)] and the label table as the one-hot columns' weights.
  const auto concatenated = [&](const nn::Linear& fc, const Tensor& table, const Tensor& in) {
    return linear(cat({in, one_hot(y, 10)}, 1), cat({fc.weight, table.transpose(0, 1)}, 1), fc.bias);
  };
  auto& enc_fc = dynamic_cast<nn::Linear&>((*model.enc)[5]);
  const Tensor h = concatenated(enc_fc, model.enc_label->weight, model.enc->forward_range(x, 0, 5));
  const Tensor code = model.enc->forward_range(h, 6, model.enc->size());
  const auto [mu, logvar] = model.encode(x, y);
  EXPECT_LT(max_abs_diff(cat({mu, logvar}, 1), code), 1e-5);
  auto& dec_fc = dynamic_cast<nn::Linear&>((*model.dec)[0]);
  const Tensor z = randn({3, 4}, gen);
  const Tensor image = model.dec->forward_range(concatenated(dec_fc, model.dec_label->weight, z), 1, model.dec->size());
  EXPECT_LT(max_abs_diff(model.decode(z, y), image), 1e-5);

  // The label changes the code and the image; the same label gives the same ones.
  EXPECT_GT(max_abs_diff(model.encode(x, {1, 1, 1}).first, model.encode(x, {2, 2, 2}).first), 1e-4);
  EXPECT_GT(max_abs_diff(model.decode(z, {1, 1, 1}), model.decode(z, {2, 2, 2})), 1e-4);
  EXPECT_EQ(max_abs_diff(model.decode(z, {1, 1, 1}), model.decode(z, {1, 1, 1})), 0.0);
}

TEST(ConditionalVAE, OnlyTheRowsOfTheBatchsClassesGetAGradient) {
  Generator gen(3);
  models::VAE model(small_vae(10), gen);
  model.loss(images(4, 4), randn({4, 4}, gen), 1.0, {2, 5, 2, 9}).loss.backward();
  for (const auto* table : {&model.enc_label->weight, &model.dec_label->weight}) {
    const Tensor g = table->grad();
    for (int64_t c = 0; c < 10; ++c) {
      const double norm = sum(abs(g.narrow(0, c, 1))).item();
      if (c == 2 || c == 5 || c == 9)
        EXPECT_GT(norm, 0.0) << "class " << c;
      else
        EXPECT_EQ(norm, 0.0) << "class " << c;
    }
  }
}

TEST(ConditionalVAE, LabelsMustSuitTheModel) {
  Generator gen(5);
  models::VAE conditional(small_vae(10), gen), plain(small_vae(0), gen);
  const Tensor x = images(2, 6);
  expect_error([&] { conditional.encode(x); }, {"vae", "class-conditional", "0 labels for 2 images"});
  expect_error([&] { conditional.encode(x, {1, 10}); }, {"label 10", "image 1", "[0, 10)"});
  expect_error([&] { plain.encode(x, {1, 2}); }, {"not class-conditional", "2 labels"});
  EXPECT_EQ(plain.named_parameters().size() + 2, conditional.named_parameters().size());
}

TEST(ConditionalGAN, TheDiscriminatorIsAProjectionOneHeadPerClass) {
  models::GANConfig c;
  c.z_dim = 8;
  c.g_width = 4;
  c.d_width = 4;
  c.classes = 10;
  Generator gen(7);
  models::GAN model(c, gen);
  const Tensor x = images(3, 8) * 2.0 - 1.0;
  const models::Labels y = {3, 3, 8};
  // D(x, y) = (w + e_y) . phi(x) + b, by hand.
  const Tensor phi = model.D->forward_range(x, 0, 6);
  auto& head = dynamic_cast<nn::Linear&>((*model.D)[6]);
  const Tensor by_hand =
      sum(phi * (head.weight + rows_of(model.D_label->weight, y)), {1}) + head.bias;
  EXPECT_LT(max_abs_diff(model.discriminate(x, y), by_hand), 1e-5);

  // Each player's optimizer holds its class table.
  const nn::NamedTensors g = model.g_optimized(), d = model.d_optimized();
  EXPECT_EQ(g.back().first, "label.weight");
  EXPECT_EQ(d.back().first, "label.weight");
  EXPECT_EQ(model.g_parameters().back().first, "G_label.weight");
  EXPECT_EQ(model.d_parameters().back().first, "D_label.weight");
  // G's class shift starts at 0; once it is not, the label matters, even to a
  // training-mode batch of one class (the shift comes after the batch norm,
  // which would subtract a per-batch constant).
  const Tensor z = randn({3, 8}, gen);
  EXPECT_EQ(max_abs_diff(model.generate(z, {0, 0, 0}), model.generate(z, {1, 1, 1})), 0.0);
  {
    NoGradGuard no_grad;
    model.G_label->weight.copy_(randn(model.G_label->weight.shape(), gen));
  }
  EXPECT_GT(max_abs_diff(model.generate(z, {0, 0, 0}), model.generate(z, {1, 1, 1})), 1e-3);
  model.generator_terms(z, {}, y).first.backward();
  EXPECT_TRUE(model.G_label->weight.grad().defined());
  EXPECT_FALSE(model.D_label->weight.grad().defined());
  expect_error([&] { model.discriminate(x); }, {"gan", "0 labels for 3 images"});
}

TEST(ConditionalUNet, TheClassJoinsTheTimeEmbeddingWithANullRow) {
  Generator gen(9);
  models::UNet model(small_unet(10), gen);
  EXPECT_EQ(model.class_embed->weight.shape(), (Shape{11, 16}));
  EXPECT_EQ(model.null_label(), 10);
  const Tensor x = images(2, 10);
  const Tensor t = models::timestep_tensor({5, 500}, x.device());
  const Tensor a = model.forward(x, t, {3, 3}), b = model.forward(x, t, {4, 4}), none = model.forward(x, t, {10, 10});
  EXPECT_GT(max_abs_diff(a, b), 1e-5);
  EXPECT_GT(max_abs_diff(a, none), 1e-5);
  expect_error([&] { model.forward(x, t, {3, 11}); }, {"unet", "label 11", "[0, 11)"});
  expect_error([&] { model.forward(x, t); }, {"unet", "0 labels for 2 images"});
}

TEST(Guidance, IsTheUnconditionalPlusTheScaledDifferenceInOneBatch) {
  Generator gen(11);
  models::UNet model(small_unet(10), gen);
  model.eval();
  NoGradGuard no_grad;
  const Tensor x = images(3, 12);
  const Tensor t = models::timestep_tensor({1, 40, 999}, x.device());
  const models::Labels y = {0, 9, 4};
  const Tensor c = model.forward(x, t, y), u = model.forward(x, t, {10, 10, 10});
  // s = 1 and s = 0 are the two predictions themselves, bit for bit.
  EXPECT_EQ(max_abs_diff(models::guided_predictor(model, y, 1.0)(x, t), c), 0.0);
  EXPECT_EQ(max_abs_diff(models::guided_predictor(model, y, 0.0)(x, t), u), 0.0);
  // s = 3 from one batch of 6 against the formula on separate batches (a
  // GEMM's blocking may differ with the batch, hence not bit for bit).
  EXPECT_LT(max_abs_diff(models::guided_predictor(model, y, 3.0)(x, t), u + (c - u) * 3.0), 1e-5);
  EXPECT_LT(max_abs_diff(models::unconditional_predictor(model)(x, t), u), 1e-6);
  expect_error([&] { models::guided_predictor(model, y, -1.0); }, {"guidance", ">= 0"});
  expect_error([&] { models::guided_predictor(model, {10}, 2.0); }, {"label 10", "[0, 10)"});
  models::UNet plain(small_unet(0), gen);
  expect_error([&] { models::guided_predictor(plain, y, 2.0); }, {"not class-conditional", "--conditional"});
}

TEST(Guidance, LabelDropoutDropsTheAskedFraction) {
  models::Labels y(10000, 3);
  Generator a(1), b(1);
  const models::Labels dropped = models::drop_labels(y, 0.1, 10, a);
  EXPECT_EQ(dropped, models::drop_labels(y, 0.1, 10, b));  // deterministic for a seed
  const auto nulls = std::count(dropped.begin(), dropped.end(), 10);
  EXPECT_NEAR(double(nulls) / 10000.0, 0.1, 0.01);  // 3 standard deviations
  EXPECT_EQ(std::count(dropped.begin(), dropped.end(), 3) + nulls, 10000);
  EXPECT_EQ(models::drop_labels(y, 0.0, 10, a), y);
  EXPECT_EQ(models::drop_labels(y, 1.0, 10, a), models::Labels(10000, 10));
  expect_error([&] { models::drop_labels(y, 1.5, 10, a); }, {"label dropout", "[0, 1]"});
}

TEST(ClassGrid, RowsPerClassAndTheSameNoiseDownEachColumn) {
  EXPECT_EQ(tools::class_rows({2, 0}, 3), (models::Labels{2, 2, 2, 0, 0, 0}));
  EXPECT_EQ(tools::all_classes(3), (std::vector<int64_t>{0, 1, 2}));
  const Tensor noise = test::uniform({2, 5}, 3);
  const Tensor grid = tools::repeat_rows(noise, 3);
  ASSERT_EQ(grid.shape(), (Shape{6, 5}));
  EXPECT_EQ(max_abs_diff(grid.narrow(0, 4, 2), noise), 0.0);
}

TEST(ClassGrid, ClassesByNameOrIndex) {
  const std::vector<std::string> fashion = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                            "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  using tools::parse_classes;
  EXPECT_EQ(parse_classes("sneaker", 10, fashion), (std::vector<int64_t>{7}));
  EXPECT_EQ(parse_classes("Ankle Boot,7, bag", 10, fashion), (std::vector<int64_t>{9, 7, 8}));
  EXPECT_EQ(parse_classes("tshirt", 10, fashion), (std::vector<int64_t>{0}));  // punctuation and case folded
  EXPECT_EQ(parse_classes("shirt", 10, fashion), (std::vector<int64_t>{6}));   // exact beats "T-shirt/top"
  EXPECT_EQ(parse_classes("boot", 10, fashion), (std::vector<int64_t>{9}));    // part of one name
  EXPECT_EQ(parse_classes("ALL", 10, fashion).size(), 10u);
  EXPECT_EQ(parse_classes("3", 10, {}), (std::vector<int64_t>{3}));
  EXPECT_NE(error_of([&] { parse_classes("shoe", 10, fashion); }).find("'shoe' matches no class"), std::string::npos);
  EXPECT_NE(error_of([&] { parse_classes("shoe", 10, fashion); }).find("7 Sneaker"), std::string::npos);
  EXPECT_NE(error_of([&] { parse_classes("s", 10, fashion); }).find("matches several classes"), std::string::npos);
  EXPECT_NE(error_of([&] { parse_classes("10", 10, fashion); }).find("10 is not a class"), std::string::npos);
  EXPECT_NE(error_of([&] { parse_classes("x", 0, {}); }).find("not class-conditional"), std::string::npos);
  // Signs and punctuation do not make an index.
  EXPECT_NE(error_of([&] { parse_classes("-1", 10, fashion); }).find("neither a class index nor a name"),
            std::string::npos);
  const std::vector<std::string> digits = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
  EXPECT_NE(error_of([&] { parse_classes("-1", 10, digits); }).find("neither"), std::string::npos);
  // A folder's classes named by numbers, sorted as text: a name as written wins over an index.
  const std::vector<std::string> folders = {"0", "1", "10", "2"};
  EXPECT_EQ(parse_classes("2", 4, folders), (std::vector<int64_t>{3}));
  EXPECT_EQ(parse_classes("10", 4, folders), (std::vector<int64_t>{2}));
}

namespace {

tools::CommonOptions tiny_run(const std::string& out) {
  tools::CommonOptions o;
  o.out = out;
  o.device = "cpu";
  o.epochs = 1;
  o.batch_size = 32;
  o.limit = 128;  // 4 steps
  o.test_limit = 64;
  o.log_every = 2;
  o.lr = 2e-3;
  return o;
}

// The height of a grid of `rows` rows of 28-pixel images (2-pixel padding).
int64_t grid_height(int64_t rows) { return rows * 30 + 2; }

// What every conditional run writes and draws: its classes in config.json,
// a class grid per epoch, `sample --class` and eval's class accuracy.
void expect_a_conditional_run(const std::string& out) {
  std::ifstream in(out + "/config.json");
  const nlohmann::json config = nlohmann::json::parse(in);
  EXPECT_EQ(config["classes"]["count"], 10);
  EXPECT_EQ(config["classes"]["names"][7], "Sneaker");
  // One row per class.
  EXPECT_EQ(load_image(out + "/samples/epoch_001.png").size(1), grid_height(10));

  tools::SampleOptions so;
  so.device = "cpu";
  so.steps = 2;
  so.classes = "sneaker,bag";
  so.per_class = 3;
  const Tensor drawn = tools::sample_run(out, so);
  EXPECT_EQ(drawn.shape(), (Shape{6, 1, 28, 28}));
  // The same noise, class by class: a sneaker row is the first row of a
  // sneaker-only request with the same seed.
  so.classes = "7";
  EXPECT_LT(max(abs(tools::sample_run(out, so) - drawn.narrow(0, 0, 3))).item(), 1e-4);
  so.classes = "";
  so.per_class = 1;
  EXPECT_EQ(tools::sample_run(out, so).size(0), 10);  // every class by default
  so.classes = "shoe";
  EXPECT_NE(error_of([&] { tools::sample_run(out, so); }).find("7 Sneaker"), std::string::npos);

  tools::EvalOptions eo;
  eo.n = 100;
  eo.batch_size = 64;
  eo.device = "cpu";
  eo.steps = 2;
  eo.test_limit = 100;
  eo.bound_images = 0;
  eo.nearest_queries = 0;
  const auto model = tools::open_evaluated_model(out, Device::cpu(), eo);
  EXPECT_EQ(model->conditioning.count, 10);
  const nlohmann::json r = tools::evaluate_model(*model, out, Device::cpu(), eo);
  EXPECT_TRUE(r["metrics"]["class_accuracy"].is_number());
  EXPECT_EQ(r["metrics"]["class_accuracy_per_class"].size(), 10u);
}

}  // namespace

TEST(ConditionalTraining, AVAERunDrawsTheClassesAskedFor) {
  if (!test::have_fashion_mnist()) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  const std::string out = test::temp_run("conditional_vae");
  tools::VAEOptions o;
  o.conditional = true;
  const tools::VAESummary s = tools::train_vae(tiny_run(out), o);
  EXPECT_EQ(s.steps, 4);
  EXPECT_TRUE(std::isfinite(s.test.loss));
  expect_a_conditional_run(out);
  // An unconditional run's sample refuses --class.
  const std::string plain = test::temp_run("unconditional_vae");
  tools::train_vae(tiny_run(plain), {});
  tools::SampleOptions so;
  so.classes = "bag";
  EXPECT_NE(error_of([&] { tools::sample_run(plain, so); }).find("not class-conditional"), std::string::npos);
}

TEST(ConditionalTraining, AGANRunDrawsTheClassesAskedFor) {
  if (!test::have_fashion_mnist()) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  const std::string out = test::temp_run("conditional_gan");
  tools::GANOptions o;
  o.conditional = true;
  o.g_width = 8;
  o.d_width = 8;
  EXPECT_EQ(tools::train_gan(tiny_run(out), o).steps, 4);
  expect_a_conditional_run(out);
  // Both class tables were trained, with their optimizers' state in the checkpoint.
  const SafetensorsContent ckpt = load_safetensors(out + "/checkpoints/last.safetensors");
  for (const char* name :
       {"G_label.weight", "D_label.weight", "optim.G.label.weight.exp_avg", "optim.D.label.weight.exp_avg"})
    EXPECT_NE(ckpt.find(name), nullptr) << name;
  EXPECT_GT(max(abs(ckpt.at("G_label.weight"))).item(), 0.0);  // started at 0
}

TEST(ConditionalTraining, ADDPMRunDrawsTheClassesAskedForWithGuidance) {
  if (!test::have_fashion_mnist()) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  const std::string out = test::temp_run("conditional_ddpm");
  tools::DDPMOptions o;
  o.conditional = true;
  o.guidance_scale = 2.0;
  o.base_channels = 8;
  o.channel_mults = "1,2";
  o.attention_res = "none";
  o.groups = 4;
  o.sample_steps = 2;
  o.bound_images = 4;
  o.bound_timesteps = 2;
  const tools::DDPMSummary s = tools::train_ddpm(tiny_run(out), o);
  EXPECT_EQ(s.steps, 4);
  EXPECT_TRUE(std::isfinite(s.bound.total));  // the bound of the null-label model
  expect_a_conditional_run(out);
}

TEST(ConditionalTraining, NeedsALabelledDataSet) {
  tools::VAEOptions o;
  o.conditional = true;
  EXPECT_NE(error_of([&] { tools::vae_config(o, 1, 28, 28, 0); }).find("--conditional needs a labelled data set"),
            std::string::npos);
  tools::DDPMOptions d;
  d.guidance_scale = -1;
  EXPECT_NE(error_of([&] { tools::unet_config(d, 1, 28, 28, 10); }).find("--guidance-scale"), std::string::npos);
  // Guidance needs the unconditional prediction that label dropout trains.
  d.conditional = true;
  d.label_dropout = 0;
  d.guidance_scale = 2;
  EXPECT_NE(error_of([&] { tools::unet_config(d, 1, 28, 28, 10); }).find("needs --label-dropout > 0"),
            std::string::npos);
  d.guidance_scale = 1;
  EXPECT_EQ(tools::unet_config(d, 1, 28, 28, 10).classes, 10);
}
