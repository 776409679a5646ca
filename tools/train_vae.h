// `nanogen train vae`: the training loop of the VAE, its evaluation and its
// run folder. A library function, so that tests can train and resume too.
#pragma once

#include <string>

#include "models/vae.h"
#include "tools/train_common.h"

namespace ng::tools {

struct VAEOptions {
  int64_t z_dim = 16;
  std::string likelihood = "bernoulli";  // bernoulli | gaussian | gaussian-learned
  double sigma = 0.1;                    // Gaussian decoder's (initial) standard deviation
  double beta = 1.0;                     // weight of the KL term
  int64_t kl_warmup_steps = 0;           // beta ramps linearly from 0 over these steps
};

// Per-image averages in nats over a data set, evaluated in eval mode with a
// fixed noise stream.
struct ELBOReport {
  double loss = 0, recon = 0, kl = 0;
  int64_t images = 0;
};

struct TrainSummary {
  std::string run;
  int64_t steps = 0;    // optimizer steps taken in all (including earlier sessions)
  int64_t epochs_done = 0;
  bool interrupted = false;
  ELBOReport test;      // at the last completed epoch
};

TrainSummary train_vae(CommonOptions common, const VAEOptions& vae);

// Builds the model a run folder describes, with its last checkpoint's weights.
std::unique_ptr<models::VAE> load_vae_run(const std::string& run, Device device);

// Evaluates the negative ELBO of a model over images [N,C,H,W] in [0,1].
ELBOReport evaluate_vae(const models::VAE& model, const Tensor& images, int64_t batch_size, uint64_t seed,
                        Device device);

}  // namespace ng::tools
