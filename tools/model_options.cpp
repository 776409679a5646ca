#include "tools/model_options.h"

#include <cmath>

#include "engine/error.h"
#include "tools/cli.h"

namespace ng::tools {

namespace {

// A model config with the image size set and the rest at its defaults.
template <class Config>
Config for_images(int64_t channels, int64_t height, int64_t width) {
  Config c;
  c.channels = channels;
  c.height = height;
  c.width = width;
  return c;
}

// The classes a model conditions on: the data set's when asked to, else 0.
int64_t conditioning_classes(bool conditional, int64_t classes, const std::string& model) {
  if (!conditional) return 0;
  NG_CHECK(classes > 0, model, ": --conditional needs a labelled data set (Fashion-MNIST, MNIST, CIFAR-10, or an ",
           "image folder with one subfolder per class); this one has no labels");
  return classes;
}

}  // namespace

models::VAEConfig vae_config(const VAEOptions& o, int64_t channels, int64_t height, int64_t width, int64_t classes) {
  NG_CHECK(o.z_dim >= 1, "vae: --z-dim must be at least 1 (latent dimensions), got ", o.z_dim);
  NG_CHECK(std::isfinite(o.beta) && o.beta >= 0, "vae: --beta (the KL term's weight) must be >= 0, got ", o.beta);
  NG_CHECK(o.kl_warmup_steps >= 0, "vae: --kl-warmup-steps must be >= 0, got ", o.kl_warmup_steps);
  auto c = for_images<models::VAEConfig>(channels, height, width);
  c.z_dim = o.z_dim;
  c.likelihood = models::parse_likelihood(o.likelihood);
  c.sigma = o.sigma;
  c.classes = conditioning_classes(o.conditional, classes, "vae");
  return c;
}

GANOptions resolve_gan_options(GANOptions o) {
  const models::GANLoss loss = models::parse_gan_loss(o.loss);
  const bool wasserstein = loss == models::GANLoss::wasserstein;
  NG_CHECK(o.gp >= 0, "gan: --gp must be non-negative, got ", o.gp);
  NG_CHECK(o.z_dim >= 1, "gan: --z-dim must be at least 1 (noise dimensions), got ", o.z_dim);
  if (o.n_critic == 0) o.n_critic = wasserstein ? 5 : 1;
  NG_CHECK(o.n_critic >= 1, "gan: --n-critic must be at least 1, got ", o.n_critic);
  if (o.clip < 0) o.clip = wasserstein && o.gp == 0 ? 0.01 : 0.0;
  if (o.d_norm == "auto") o.d_norm = o.gp > 0 ? "none" : "batch";
  NG_CHECK(!(o.gp > 0 && models::parse_d_norm(o.d_norm) == models::DNorm::batch),
           "gan: --gp needs --d-norm none or layer: batch norm makes each critic value depend on the whole batch, "
           "so the per-sample input gradient the penalty constrains is not defined");
  NG_CHECK(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1, "gan: Adam's betas (", o.beta1, ", ", o.beta2,
           ") must lie in [0, 1)");
  return o;
}

models::GANConfig gan_config(const GANOptions& o, int64_t channels, int64_t height, int64_t width, int64_t classes) {
  auto c = for_images<models::GANConfig>(channels, height, width);
  c.z_dim = o.z_dim;
  c.g_width = o.g_width;
  c.d_width = o.d_width;
  c.d_norm = models::parse_d_norm(resolve_gan_options(o).d_norm);
  c.classes = conditioning_classes(o.conditional, classes, "gan");
  return c;
}

std::unique_ptr<models::Diffusion> diffusion_of(const DDPMOptions& o) {
  return std::make_unique<models::Diffusion>(models::parse_beta_schedule(o.schedule), o.timesteps,
                                             models::parse_reverse_variance(o.sigma));
}

models::UNetConfig unet_config(const DDPMOptions& o, int64_t channels, int64_t height, int64_t width,
                               int64_t classes) {
  NG_CHECK(o.label_dropout >= 0 && o.label_dropout < 1, "ddpm: --label-dropout must be in [0, 1), got ",
           o.label_dropout);
  NG_CHECK(std::isfinite(o.guidance_scale) && o.guidance_scale >= 0,
           "ddpm: --guidance-scale must be a number >= 0 (1: no guidance), got ", o.guidance_scale);
  NG_CHECK(!o.conditional || o.label_dropout > 0 || o.guidance_scale == 1.0, "ddpm: --guidance-scale ",
           o.guidance_scale, " needs --label-dropout > 0: guidance mixes in the unconditional prediction, which only ",
           "images trained without their label teach");
  auto c = for_images<models::UNetConfig>(channels, height, width);
  c.base = o.base_channels;
  c.mults = parse_int_list(o.channel_mults, "--channel-mults");
  c.attention_res = o.attention_res.empty() || o.attention_res == "none"
                        ? std::vector<int64_t>{}
                        : parse_int_list(o.attention_res, "--attention-res");
  c.blocks = o.blocks;
  c.groups = o.groups;
  c.temb_dim = o.temb_dim > 0 ? o.temb_dim : 4 * o.base_channels;
  c.dropout = o.dropout;
  c.classes = conditioning_classes(o.conditional, classes, "ddpm");
  return c;
}

models::ClassifierConfig classifier_config(const ClassifierOptions& o, int64_t channels, int64_t height, int64_t width,
                                           int64_t classes) {
  auto c = for_images<models::ClassifierConfig>(channels, height, width);
  c.classes = classes;
  c.feature_dim = o.feature_dim;
  c.dropout = o.dropout;
  return c;
}

}  // namespace ng::tools
