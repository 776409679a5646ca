// The one training loop behind every `nanogen train <model>`.
//
// The Trainer owns what every run has: the run folder and its config.json,
// resuming from the last checkpoint (model, optimizers, EMA, the position in
// the data and the state of the training-noise stream), the Ctrl-C /
// --max-steps / --time-limit stops, the progress bar, metrics.csv and the
// end-of-epoch checkpoint. A model brings a TrainingJob: its step, its
// end-of-epoch evaluation and sample grids, and what its checkpoint holds
// (tools/train_vae.cpp, train_gan.cpp, train_ddpm.cpp, train_classifier.cpp).
//
//   Trainer trainer("vae", common);                  // opens the run folder
//   const VAEOptions o = trainer.options(cli_options); // the saved ones on --resume
//   VAEJob job(trainer, o, ...);                      // builds the model
//   RunSummary s = trainer.train(job, train_set, {{"vae", o}, ...}, "training a VAE ...");
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/data/dataset.h"
#include "engine/dist/communicator.h"
#include "engine/data/loader.h"
#include "engine/nn/module.h"
#include "engine/ops/random.h"
#include "engine/optim/ema.h"
#include "engine/optim/optimizer.h"
#include "tools/run_config.h"
#include "tools/run_folder.h"
#include "tools/train_common.h"

namespace ng::tools {

using Metrics = std::map<std::string, double>;

// What a step reports: numbers the host knows (a learning rate) and scalars
// still on the step's device (a loss, a gradient norm). The trainer reads the
// device ones only when it shows or writes them (a row of metrics.csv every
// --log-every steps, a redraw of the progress line, an epoch's means), so
// that on a GPU the host queues the next step while this one runs instead of
// waiting for it. A job that knows all its numbers returns plain Metrics.
struct StepMetrics {
  Metrics host;
  std::map<std::string, Tensor> device;  // 0-dim tensors

  StepMetrics(Metrics known = {}) : host(std::move(known)) {}  // NOLINT: implicit on purpose
  bool has(const std::string& name) const { return host.count(name) || device.count(name); }
  Metrics read() const;  // all of them as numbers (waits for the device)
};

// The state a checkpoint holds: the model's tensors under their own names,
// each optimizer's under "optim." + its prefix ("" or "G.", "D."), the
// exponential moving average's under "ema.".
struct CheckpointParts {
  nn::Module* model = nullptr;
  std::vector<std::pair<std::string, optim::Optimizer*>> optimizers;
  optim::EMA* ema = nullptr;
};

class Trainer;

// What one model brings to the loop.
class TrainingJob {
 public:
  explicit TrainingJob(Trainer& trainer) : trainer_(trainer) {}
  virtual ~TrainingJob() = default;

  // What the checkpoints hold (besides the position in the run); the model
  // is put in training mode at the start of every epoch.
  virtual CheckpointParts parts() = 0;

  // The columns of metrics.csv after "epoch" and "step" (an old run's header
  // must be a prefix: append new columns at the end).
  virtual std::vector<std::string> columns() const = 0;
  // The step metrics averaged over an epoch into its row; a step where one
  // is not finite stops the run with an error (the last checkpoint is kept).
  virtual std::vector<std::string> averaged() const = 0;
  // Batches one step trains on (the GAN's discriminator steps).
  virtual int64_t batches_per_step() const { return 1; }

  // One step; `log_now` when its metrics make a row of metrics.csv. Returns
  // every metric of averaged() and the step row's others.
  virtual StepMetrics step(const std::vector<Batch>& batches, int64_t global_step, bool log_now) = 0;
  // The progress bar's words for a step's metrics or an epoch's means.
  virtual std::string status(const Metrics& metrics) const = 0;
  // After an epoch's steps: evaluation and sample grids. Adds to the epoch's
  // row (which arrives with the means, "epoch" and "step", the steps taken
  // in all) and returns the rest of its log line ("epoch N: " + ...).
  virtual std::string end_epoch(int64_t epoch, const Metrics& means, Metrics& row) = 0;

  // The sample grids of the model as it is now, after `global_step` steps
  // (RUN/samples/<stem>_<epoch>.png and TensorBoard's "samples/<stem>", through
  // RunFolder::save_sample_grid), from fixed noise: end_epoch writes them, and
  // a session that stops before its epoch ends writes them too, so that a
  // short try has pictures. Must not touch the training state (it runs after
  // the stop's checkpoint).
  virtual void save_samples(int64_t /*epoch*/, int64_t /*global_step*/) {}

  // Extra checkpoint metadata, and work after an epoch's checkpoint.
  virtual void annotate(Metadata& /*metadata*/, bool /*epoch_end*/) const {}
  virtual void after_epoch_checkpoint(int64_t /*epoch*/, int64_t /*global_step*/) {}

 protected:
  // The run: its device, folder, options and training-noise stream.
  Trainer& trainer_;
  // New tensors on the run's device.
  TensorOptions on_device() const;
};

// How a session ended.
struct RunSummary {
  std::string run;
  int64_t steps = 0;         // optimizer steps taken in all (including earlier sessions)
  int64_t epochs_done = 0;   // epochs completed in all
  bool interrupted = false;  // by Ctrl-C (not by --max-steps or --time-limit)
  Metrics last_means;        // means over this session's last (possibly partial) epoch
};

class Trainer {
 public:
  // Opens the run folder (default runs/<model>). On --resume of a run with a
  // config.json, the run's own common options replace the command line's,
  // except those of this session: --epochs, --max-steps, --time-limit,
  // --threads. Throws when the run is of another model.
  Trainer(std::string model, CommonOptions common);

  const CommonOptions& common() const { return common_; }
  Device device() const { return device_; }
  // The ranks of a data-parallel run (docs/distributed.md): one without an
  // MPI launcher. Each trains on its share of every global batch; rank 0
  // alone writes the run folder and prints.
  dist::Communicator& ranks() const { return ranks_; }
  // loss.backward(), and in a data-parallel run the gradient of each of
  // `params` replaced by its mean over the ranks, so that every rank takes
  // the step of the whole global batch. The sums travel in buckets of
  // --bucket-mb while backward still runs (dist/gradient_buckets.h).
  void backward(const Tensor& loss, const std::vector<Tensor>& params) const;
  RunFolder& run() { return run_; }
  // The training-noise stream; its state is saved in every checkpoint.
  Generator& noise() { return noise_; }
  // config.json: read on resume, written by train() for a new run.
  const nlohmann::json& config() const { return config_; }

  // The model's options: those the run recorded when resuming, else `given`.
  template <class Options>
  Options options(const Options& given) const {
    return resumed_ ? run_options<Options>(config_, model_, run_.path()) : given;
  }
  // A split of --data, cut to --limit (train) or --test-limit (test).
  Dataset dataset(const std::string& split) const;
  // A model of `config` with weights drawn from the --seed's weight stream,
  // on the run's device.
  template <class Model, class Config>
  std::unique_ptr<Model> build(const Config& config) const {
    Generator init(Streams::init(common_.seed));
    auto model = std::make_unique<Model>(config, init);
    model->to(device_);
    return model;
  }
  // Steps in an epoch of `train` (whole batches only).
  int64_t steps_per_epoch(const Dataset& train, int64_t batches_per_step = 1) const;

  // Trains `job` on `train` until --epochs, a stop or Ctrl-C. A new run's
  // config.json is {"model", "common", "image": [C, H, W]} and `sections`;
  // its first log line "training <what> on <data> ... on <device>".
  RunSummary train(TrainingJob& job, const Dataset& train, const nlohmann::json& sections, const std::string& what);

 private:
  // The loss curves (RUN/curves/) and the strip of the epochs' samples, after
  // everything a resume needs is saved: a failure costs only these pictures
  // (a warning), not the session.
  void draw_curves_and_strip(int64_t image_height);
  // This rank's rows of a global batch.
  Batch shard(Batch global) const;
  // The metrics' means over the ranks (the same numbers on every rank).
  Metrics mean_over_ranks(Metrics local) const;
  // Whether any rank says yes: ranks stop together (Ctrl-C, --time-limit).
  bool any_rank(bool local) const;

  dist::Communicator& ranks_;
  std::string model_;
  CommonOptions common_;
  Device device_;
  RunFolder run_;
  nlohmann::json config_;
  bool resumed_ = false;
  Generator noise_;
};

}  // namespace ng::tools
