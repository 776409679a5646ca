// `nanogen train ddpm`: the training loop of the DDPM (L_simple, Adam, EMA),
// its per-epoch samples, trajectory strips and variational bound, and its run
// folder. A library function, so that tests can train and resume too.
#pragma once

#include <memory>
#include <string>

#include "models/diffusion.h"
#include "models/unet.h"
#include "tools/train_common.h"

namespace ng::tools {

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
};

struct DDPMSummary {
  std::string run;
  int64_t steps = 0;  // optimizer steps taken in all (including earlier sessions)
  int64_t epochs_done = 0;
  bool interrupted = false;
  double last_epoch_loss = 0;  // mean L_simple of the last completed epoch
  double first_epoch_loss = 0; // ... of the first epoch this session completed
  models::BoundTerms bound;    // at the last completed epoch (images = 0 when not evaluated)
};

DDPMSummary train_ddpm(CommonOptions common, const DDPMOptions& ddpm);

// The U-Net config a run's options describe for images C x H x W.
models::UNetConfig unet_config(const DDPMOptions& o, int64_t channels, int64_t height, int64_t width);

// A trained DDPM: the U-Net (EMA weights unless asked otherwise) and its process.
struct DDPMRun {
  DDPMOptions options;
  std::unique_ptr<models::UNet> model;
  std::unique_ptr<models::Diffusion> diffusion;
  models::EpsPredictor predictor() const;
};
DDPMRun load_ddpm_run(const std::string& run, Device device, bool ema = true);

}  // namespace ng::tools
