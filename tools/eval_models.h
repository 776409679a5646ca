// A run's trained model, opened for `nanogen sample` and `nanogen eval`.
// What they need from it, whatever its kind: draw
// images, count parameters, and (where the model defines one) bound the
// likelihood of 8-bit test images.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/device.h"
#include "engine/ops/random.h"
#include "engine/tensor.h"
#include "models/diffusion.h"
#include "models/gan.h"
#include "models/labels.h"
#include "models/unet.h"
#include "models/vae.h"
#include "tools/eval.h"
#include "tools/train_common.h"

namespace ng::tools {

// A likelihood in bits/dim, or why there is none.
struct BitsPerDim {
  std::optional<double> value;
  int64_t images = 0;
  std::string note;  // how it was computed, or why it is not defined
};

class EvaluatedModel {
 public:
  virtual ~EvaluatedModel() = default;
  // n images in [0,1], [n,C,H,W], on the CPU. A class-conditional model
  // draws image i of class y[i] (y holds n labels); an unconditional one
  // takes no labels.
  virtual Tensor sample(int64_t n, Generator& gen, const models::Labels& y) = 0;
  // The classes a conditional model draws (count 0: unconditional).
  RunClasses conditioning;
  // The parameters of the network that draws samples (the GAN's generator,
  // the VAE's encoder and decoder, the U-Net); extra ones trained beside it
  // (the GAN's discriminator) in `extra_parameters`.
  virtual int64_t parameters() const = 0;
  virtual int64_t extra_parameters() const { return 0; }
  // test_images: [N,C,H,W] in [0,1] on the 256-level grid, on the CPU.
  virtual BitsPerDim bits_per_dim(const Tensor& test_images, const EvalOptions& options) = 0;
  // The sampler's settings (DDPM), else null.
  virtual nlohmann::json sampler() const { return nullptr; }
  // The test images [N,C,H,W] in [0,1] on the CPU, shown to the model before
  // it samples (a VAE evaluated on reconstructions draws from them).
  virtual void see_test_images(const Tensor& test_images) { (void)test_images; }
  // Snapshots of the sampling chain as one grid image [rows * columns, C, H, W]
  // in [0,1] with `columns` images a row (DDPM), else undefined.
  virtual Tensor trajectory(int64_t rows, int64_t columns, Generator& gen) {
    (void)rows, (void)columns, (void)gen;
    return Tensor();
  }

  // Called with (step, steps) by a sampler that runs a chain (the DDPM), for a progress bar.
  std::function<void(int64_t, int64_t)> on_step;
};

// The model of a run folder (checked to be a run of that model), built from
// its config.json with its last checkpoint's weights, on `device`, in eval mode.
std::unique_ptr<models::VAE> load_vae_run(const std::string& run, Device device);
std::unique_ptr<models::GAN> load_gan_run(const std::string& run, Device device);  // with D and running statistics
// A trained DDPM: the U-Net (EMA weights unless asked otherwise) and its process.
struct DDPMRun {
  std::unique_ptr<models::UNet> model;
  std::unique_ptr<models::Diffusion> diffusion;
  // The noise predictor without a label (a conditional U-Net's null label).
  models::EpsPredictor predictor() const;
};
DDPMRun load_ddpm_run(const std::string& run, Device device, bool ema = true);

// The DDPM's sampling steps when none are asked for (--steps -1), the same
// for `sample`, `eval` and the per-epoch grids: DDIM 100 on a GPU and 20 on a
// CPU (where 100 steps take minutes for 64 images), ancestral sampling every
// timestep (0).
int64_t default_sampling_steps(models::Sampler sampler, Device device);

// Opens RUN's last checkpoint on `device` as the model its config.json names
// (through the model registry, tools/model_registry.h).
std::unique_ptr<EvaluatedModel> open_evaluated_model(const std::string& run, Device device,
                                                     const EvalOptions& options);

// Per model, for the registry.
std::unique_ptr<EvaluatedModel> open_vae_run(const std::string& run, Device device, const EvalOptions& options);
std::unique_ptr<EvaluatedModel> open_gan_run(const std::string& run, Device device, const EvalOptions& options);
std::unique_ptr<EvaluatedModel> open_ddpm_run(const std::string& run, Device device, const EvalOptions& options);

// The evaluation of `nanogen eval` for a model already opened (tests pass a
// stand-in): RUN supplies config.json (the data set) and metrics.csv (the
// training costs) and receives eval.json and eval/*.png.
nlohmann::json evaluate_model(EvaluatedModel& model, const std::string& run, Device device,
                              const EvalOptions& options);

}  // namespace ng::tools
