// What a user sets for each model (the flags of `nanogen train <model>`,
// recorded in a run's config.json) and the model config the settings imply
// for images C x H x W. Options missing from an older run's config.json take
// their defaults.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "models/classifier.h"
#include "models/diffusion.h"
#include "models/gan.h"
#include "models/unet.h"
#include "models/vae.h"

namespace ng::tools {

struct VAEOptions {
  int64_t z_dim = 16;
  std::string likelihood = "bernoulli";  // bernoulli | gaussian | gaussian-learned
  double sigma = 0.1;                    // Gaussian decoder's (initial) standard deviation
  double beta = 1.0;                     // weight of the KL term
  int64_t kl_warmup_steps = 0;           // beta ramps linearly from 0 over these steps
  bool conditional = false;              // q(z|x,y) and p(x|z,y) on the data set's labels
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(VAEOptions, z_dim, likelihood, sigma, beta, kl_warmup_steps,
                                                conditional)

// `classes` is the data set's number of classes (0 when unlabelled), which a
// conditional model needs and an unconditional one ignores.
models::VAEConfig vae_config(const VAEOptions& o, int64_t channels, int64_t height, int64_t width,
                             int64_t classes = 0);

struct GANOptions {
  std::string loss = "nonsaturating";  // minimax | nonsaturating | kl | wasserstein | hinge
  int64_t z_dim = 64;
  int64_t g_width = 64, d_width = 64;  // 64: the canonical DCGAN (models/gan.h)
  std::string d_norm = "auto";         // batch | layer | none; auto: none with --gp, else batch
  int64_t n_critic = 0;                // D steps per G step; 0: 5 for wasserstein, else 1
  double gp = 0.0;                     // gradient penalty weight (WGAN-GP uses 10)
  double clip = -1.0;                  // D weight clipping; < 0: 0.01 for wasserstein without --gp, else off
  double beta1 = 0.5, beta2 = 0.999;   // Adam's betas for both players
  bool conditional = false;            // G(z, y) and a projection discriminator D(x, y)
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(GANOptions, loss, z_dim, g_width, d_width, d_norm, n_critic, gp, clip,
                                                beta1, beta2, conditional)

// The options with every "auto" value decided (what config.json records);
// throws on settings that contradict each other.
GANOptions resolve_gan_options(GANOptions o);
// Resolves the options first (resolving is idempotent).
models::GANConfig gan_config(const GANOptions& o, int64_t channels, int64_t height, int64_t width,
                             int64_t classes = 0);

struct DDPMOptions {
  // The process.
  std::string schedule = "linear";  // linear | cosine
  int64_t timesteps = 1000;
  std::string sigma = "posterior";  // reverse variance: beta | posterior
  // The U-Net.
  int64_t base_channels = 64;
  std::string channel_mults = "1,2,2";
  std::string attention_res = "7";  // comma-separated resolutions; "" or "none" for none
  int64_t blocks = 1;
  int64_t groups = 8;
  int64_t temb_dim = 0;  // 0: 4 * base_channels
  double dropout = 0.0;
  // Optimisation.
  double ema_decay = 0.9999;
  double grad_clip = 1.0;    // max global gradient norm (0: off)
  int64_t warmup_steps = 0;  // linear learning-rate warm-up
  // Per-epoch samples from the EMA weights.
  std::string sample_sampler = "ddim";  // ddim | ancestral
  int64_t sample_steps = 0;             // 0: 20 DDIM steps on a CPU, 100 on a GPU; every step for ancestral
  double sample_eta = 0.0;
  // Per-epoch variational bound on the first test images (-1: 8 images and
  // 20 timesteps on a CPU, 256 and 100 on a GPU; 0 images: off).
  int64_t bound_images = -1;
  int64_t bound_timesteps = -1;
  // Class-conditional: eps(x_t, t, y), the label dropped (the null label)
  // for this fraction of the training images so that the same network also
  // learns eps(x_t, t), and the classifier-free guidance scale of the
  // per-epoch grids and, unless told otherwise, of `sample` and `eval`
  // (models/guidance.h: 1 is the conditional model, > 1 guided).
  bool conditional = false;
  double label_dropout = 0.1;
  double guidance_scale = 1.0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(DDPMOptions, schedule, timesteps, sigma, base_channels, channel_mults,
                                                attention_res, blocks, groups, temb_dim, dropout, ema_decay, grad_clip,
                                                warmup_steps, sample_sampler, sample_steps, sample_eta, bound_images,
                                                bound_timesteps, conditional, label_dropout, guidance_scale)

models::UNetConfig unet_config(const DDPMOptions& o, int64_t channels, int64_t height, int64_t width,
                               int64_t classes = 0);
// The forward process the options describe.
std::unique_ptr<models::Diffusion> diffusion_of(const DDPMOptions& o);

struct ClassifierOptions {
  int64_t feature_dim = 128;
  double dropout = 0.3;
  std::string schedule = "cosine";  // learning rate: cosine (to 0 at the end of --epochs) | constant
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ClassifierOptions, feature_dim, dropout, schedule)

models::ClassifierConfig classifier_config(const ClassifierOptions& o, int64_t channels, int64_t height, int64_t width,
                                           int64_t classes);

}  // namespace ng::tools
