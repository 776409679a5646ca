#include "tools/eval_models.h"

#include <fstream>

#include "engine/nanogen.h"
#include "models/guidance.h"
#include "models/pixels.h"
#include "models/vae_bound.h"
#include "tools/model_registry.h"
#include "tools/progress.h"
#include "tools/run_config.h"
#include "tools/train_common.h"
#include "tools/train_ddpm.h"
#include "tools/train_gan.h"
#include "tools/train_vae.h"

namespace ng::tools {

namespace {

// A model rebuilt from a run's config.json (its options under "<model>" and
// its images' C, H, W under "image") with the weights of its last checkpoint.
template <class Model, class Options, class Config>
std::unique_ptr<Model> rebuild(const SavedRun& saved, const std::string& name,
                               Config (*config_of)(const Options&, int64_t, int64_t, int64_t, int64_t),
                               const NamedTensors& weights, Device device) {
  const std::string where = name + " run";
  const ImageShape image = run_image_shape(saved.config, where);
  auto model = std::make_unique<Model>(config_of(run_options<Options>(saved.config, name, where), image.channels,
                                                 image.height, image.width, run_classes(saved.config, where).count));
  model->load_state_dict(weights);
  model->to(device);
  model->eval();
  return model;
}

NamedTensors trained_weights(const SavedRun& saved) {
  return without_prefixes(saved.checkpoint.tensors, {"optim.", "ema."});
}

// EvaluatedModel::conditioning of a run whose model is conditional or not
// (the model was built with the count config.json records).
RunClasses conditioning_of(const nlohmann::json& config, const std::string& run, bool conditional) {
  return conditional ? run_classes(config, run) : RunClasses{};
}

class VAEModel : public EvaluatedModel {
 public:
  VAEModel(const std::string& run, Device device, const std::string& output)
      : device_(device), model_(load_vae_run(run, device)), output_(output) {
    conditioning = conditioning_of(read_run_config(run, "vae run"), run, model_->conditional());
    NG_CHECK(output == "mean" || output == "draw" || output == "reconstruction",
             "eval: --vae-output must be mean, draw or reconstruction, got '", output, "'");
    NG_CHECK(output != "reconstruction" || !model_->conditional(),
             "eval: --vae-output reconstruction is for an unconditional VAE; run ", run, " is conditional");
  }

  void see_test_images(const Tensor& test_images) override { test_ = test_images; }

  Tensor sample(int64_t n, Generator& gen, const models::Labels& y) override {
    NoGradGuard no_grad;
    const Tensor z = output_ == "reconstruction" ? posterior_draw(n, gen)
                                                 : randn({n, model_->config().z_dim}, gen,
                                                         TensorOptions{}.with_device(device_));
    const Tensor decoded = model_->decode(z, y), mean = model_->to_image(decoded);
    if (output_ != "draw") return mean.to(Device::cpu());
    // x ~ p(x|z): Bernoulli pixels, or the Gaussian's mean plus its noise (clamped to the image range).
    if (model_->config().likelihood == models::Likelihood::bernoulli) return bernoulli(mean, gen).to(Device::cpu());
    const Tensor noise = randn(decoded.shape(), gen, TensorOptions{}.with_device(device_)) * exp(model_->log_sigma);
    return clamp(decoded + noise, 0.0, 1.0).to(Device::cpu());
  }
  nlohmann::json sampler() const override {
    if (output_ == "mean") return nullptr;
    return {{"name", output_ == "draw" ? "x ~ p(x|z)" : "reconstructions of test images"}};
  }
  int64_t parameters() const override { return model_->num_parameters(); }

  BitsPerDim bits_per_dim(const Tensor& test, const EvalOptions& o) override {
    BitsPerDim b;
    if (model_->config().likelihood == models::Likelihood::bernoulli) {
      b.note = "n/a: the Bernoulli decoder is not a distribution over 8-bit images (train with "
               "--likelihood gaussian-learned for a bound)";
      return b;
    }
    if (model_->conditional()) {
      b.note = "n/a: the conditional VAE bounds log p(x|y), the likelihood given the true label, which is not "
               "comparable with the log p(x) of the other models";
      return b;
    }
    Generator gen(Streams::eval(o.seed));
    LazyProgress bar("bound");
    const models::IWBound r = models::importance_weighted_bound(*model_, test.to(device_), o.iw_samples, gen,
                                                                1024, bar.callback());
    bar.finish("");
    b.value = r.bits_per_dim;
    b.images = r.images;
    b.note = "importance-weighted bound (K=" + std::to_string(o.iw_samples) +
             ") with the discretised Gaussian decoder, " + std::to_string(r.images) + " test images";
    return b;
  }

 private:
  // z ~ q(z|x) for the next n test images, in order.
  Tensor posterior_draw(int64_t n, Generator& gen) {
    NG_CHECK(test_.defined() && next_test_ + n <= test_.size(0), "eval: --vae-output reconstruction needs --n (",
             next_test_ + n, ") at most the number of test images (", test_.defined() ? test_.size(0) : 0, ")");
    const Tensor x = test_.narrow(0, next_test_, n).to(device_);
    next_test_ += n;
    const auto [mu, logvar] = model_->encode(x);
    return models::reparameterize(mu, logvar, randn(mu.shape(), gen, TensorOptions{}.with_device(device_)));
  }

  Device device_;
  std::unique_ptr<models::VAE> model_;
  std::string output_;
  Tensor test_;
  int64_t next_test_ = 0;
};

class GANModel : public EvaluatedModel {
 public:
  GANModel(const std::string& run, Device device) : device_(device), model_(load_gan_run(run, device)) {
    conditioning = conditioning_of(read_run_config(run, "gan run"), run, model_->conditional());
  }

  Tensor sample(int64_t n, Generator& gen, const models::Labels& y) override {
    NoGradGuard no_grad;
    const Tensor z = randn({n, model_->config().z_dim}, gen, TensorOptions{}.with_device(device_));
    return models::signed_to_unit_pixels(model_->generate(z, y)).to(Device::cpu());
  }
  int64_t parameters() const override { return nn::count_elements(model_->g_parameters()); }
  int64_t extra_parameters() const override { return nn::count_elements(model_->d_parameters()); }
  BitsPerDim bits_per_dim(const Tensor&, const EvalOptions&) override {
    BitsPerDim b;
    b.note = "n/a: a GAN defines no likelihood";
    return b;
  }

 private:
  Device device_;
  std::unique_ptr<models::GAN> model_;
};

class DDPMModel : public EvaluatedModel {
 public:
  DDPMModel(const std::string& run, Device device, const EvalOptions& o)
      : device_(device), run_(load_ddpm_run(run, device)) {
    sampler_.sampler = models::parse_sampler(o.sampler);
    NG_CHECK(o.steps >= -1, "--steps must be >= 0 (0: every timestep; -1: the default), got ", o.steps);
    sampler_.steps = o.steps >= 0 ? o.steps : default_sampling_steps(sampler_.sampler, device);
    sampler_.eta = o.eta;
    const nlohmann::json config = read_run_config(run, "ddpm run");
    conditioning = conditioning_of(config, run, run_.model->conditional());
    const DDPMOptions trained = run_options<DDPMOptions>(config, "ddpm", run);
    NG_CHECK(o.guidance_scale == kRunsGuidance || (std::isfinite(o.guidance_scale) && o.guidance_scale >= 0),
             "--guidance-scale must be a number >= 0 (1: no guidance), got ", o.guidance_scale);
    NG_CHECK(o.guidance_scale == kRunsGuidance || run_.model->conditional(), "--guidance-scale: run ", run,
             " is not class-conditional, so there is nothing to guide");
    guidance_scale_ = o.guidance_scale == kRunsGuidance ? trained.guidance_scale : o.guidance_scale;
    null_label_trained_ = trained.label_dropout > 0;
    NG_CHECK(guidance_scale_ == 1.0 || !run_.model->conditional() || null_label_trained_,
             "--guidance-scale ", guidance_scale_, ": run ", run, " was trained with --label-dropout 0, so its ",
             "unconditional prediction, which guidance needs, was never trained; use --guidance-scale 1");
  }

  Tensor sample(int64_t n, Generator& gen, const models::Labels& y) override {
    NoGradGuard no_grad;
    return models::signed_to_unit_pixels(draw(n, gen, 0, y).x0).to(Device::cpu());
  }
  int64_t parameters() const override { return run_.model->num_parameters(); }

  BitsPerDim bits_per_dim(const Tensor& test, const EvalOptions& o) override {
    NoGradGuard no_grad;
    if (run_.model->conditional() && !null_label_trained_) {
      BitsPerDim none;
      none.note = "n/a: the run was trained with --label-dropout 0, so its null label, which bounds log p(x), "
                  "was never trained";
      return none;
    }
    models::BoundOptions bo;
    bo.timesteps = o.bound_timesteps;
    bo.seed = Streams::eval(o.seed);
    LazyProgress bar("bound");
    bo.progress = bar.callback();
    const models::BoundTerms t = models::variational_bound(*run_.diffusion, run_.predictor(),
                                                           test.to(device_) * 2.0 - 1.0, bo);
    bar.finish("");
    BitsPerDim b;
    b.value = t.total;
    b.images = t.images;
    b.note = "variational bound (L_T " + fmt("%.4f", t.prior) + " + L_1..T-1 " + fmt("%.3f", t.diffusion) +
             " + L_0 " + fmt("%.3f", t.decoder) + "), " + std::to_string(t.per_t.size()) + " strata of t, " +
             std::to_string(t.images) + " test images";
    if (run_.model->conditional())
      b.note += "; the conditional U-Net's unconditional prediction (null label), so a bound on log p(x)";
    return b;
  }

  nlohmann::json sampler() const override {
    const int64_t steps = int64_t(models::sampling_timesteps(run_.diffusion->T(), sampler_.steps).size());
    nlohmann::json j = {{"name", sampler_.sampler == models::Sampler::ddim ? "ddim" : "ancestral"},
                        {"steps", steps},
                        {"eta", sampler_.eta}};
    if (run_.model->conditional()) j["guidance_scale"] = guidance_scale_;
    return j;
  }

  Tensor trajectory(int64_t rows, int64_t columns, Generator& gen) override {
    NoGradGuard no_grad;
    // A conditional model's rows are classes 0, 1, ... in turn.
    models::Labels y;
    for (int64_t i = 0; i < rows && run_.model->conditional(); ++i) y.push_back(i % run_.model->config().classes);
    const models::SampleResult r = draw(rows, gen, columns, y);
    const Tensor t = stack(r.trajectory, 1);  // [rows, columns, C, H, W], x_T first
    return models::signed_to_unit_pixels(t.reshape({t.size(0) * t.size(1), t.size(2), t.size(3), t.size(4)}));
  }

 private:
  models::SampleResult draw(int64_t n, Generator& gen, int64_t snapshots, const models::Labels& y) {
    models::check_labels(y, run_.model->config().classes, n, "ddpm sample");
    const models::UNetConfig& c = run_.model->config();
    const Tensor x_T = randn({n, c.channels, c.height, c.width}, gen, TensorOptions{}.with_device(device_));
    models::SamplerOptions so = sampler_;
    so.snapshots = snapshots;
    so.snapshot_images = n;
    so.progress = on_step;
    const models::EpsPredictor predictor =
        run_.model->conditional() ? models::guided_predictor(*run_.model, y, guidance_scale_) : run_.predictor();
    return models::sample(*run_.diffusion, predictor, x_T, so, gen);
  }

  Device device_;
  DDPMRun run_;
  models::SamplerOptions sampler_;
  double guidance_scale_ = 1.0;
  bool null_label_trained_ = true;
};

}  // namespace

int64_t default_sampling_steps(models::Sampler sampler, Device device) {
  if (sampler == models::Sampler::ancestral) return 0;
  return device.is_cuda() ? 100 : 20;
}

std::unique_ptr<models::VAE> load_vae_run(const std::string& run, Device device) {
  const SavedRun saved = open_saved_run(run, "vae");
  return rebuild<models::VAE>(saved, "vae", vae_config, trained_weights(saved), device);
}

std::unique_ptr<models::GAN> load_gan_run(const std::string& run, Device device) {
  const SavedRun saved = open_saved_run(run, "gan");
  return rebuild<models::GAN>(saved, "gan", gan_config, trained_weights(saved), device);
}

models::EpsPredictor DDPMRun::predictor() const { return models::unconditional_predictor(*model); }

DDPMRun load_ddpm_run(const std::string& run, Device device, bool use_ema) {
  const SavedRun saved = open_saved_run(run, "ddpm");
  const NamedTensors weights =
      use_ema ? with_prefix_removed(without_prefixes(saved.checkpoint.tensors, {"ema.updates"}), "ema.")
              : trained_weights(saved);
  return {rebuild<models::UNet>(saved, "ddpm", unet_config, weights, device),
          diffusion_of(run_options<DDPMOptions>(saved.config, "ddpm", run))};
}

namespace {

// Guidance is the DDPM's; a scale given for another model is a mistake worth naming.
void refuse_guidance(const EvalOptions& o, const std::string& run, const char* model) {
  NG_CHECK(o.guidance_scale == kRunsGuidance, "--guidance-scale: run ", run, " is a ", model,
           "; classifier-free guidance applies to a class-conditional DDPM");
}

void refuse_vae_output(const EvalOptions& o, const std::string& run, const char* model) {
  NG_CHECK(o.vae_output == "mean", "--vae-output: run ", run, " is a ", model, "; it applies to a VAE");
}

}  // namespace

std::unique_ptr<EvaluatedModel> open_vae_run(const std::string& run, Device device, const EvalOptions& o) {
  refuse_guidance(o, run, "VAE");
  return std::make_unique<VAEModel>(run, device, o.vae_output);
}

std::unique_ptr<EvaluatedModel> open_gan_run(const std::string& run, Device device, const EvalOptions& o) {
  refuse_guidance(o, run, "GAN");
  refuse_vae_output(o, run, "GAN");
  return std::make_unique<GANModel>(run, device);
}

std::unique_ptr<EvaluatedModel> open_ddpm_run(const std::string& run, Device device,
                                                   const EvalOptions& options) {
  refuse_vae_output(options, run, "DDPM");
  return std::make_unique<DDPMModel>(run, device, options);
}

std::unique_ptr<EvaluatedModel> open_evaluated_model(const std::string& run, Device device,
                                                     const EvalOptions& options) {
  const ModelEntry& model = model_of_run(run, "eval");
  NG_CHECK(model.open, "eval: run '", run, "' is a ", model.name, ", which `nanogen eval` does not score");
  return model.open(run, device, options);
}

}  // namespace ng::tools
