// `nanogen train vae`: the training loop of the VAE, its evaluation and its
// run folder. A library function, so that tests can train and resume too.
#pragma once

#include <string>

#include "models/vae.h"
#include "models/vae_bound.h"
#include "tools/model_options.h"
#include "tools/train_common.h"
#include "tools/trainer.h"

namespace ng::tools {

struct VAESummary : RunSummary {
  models::ELBOReport test;  // at the last completed epoch of this session
};

VAESummary train_vae(CommonOptions common, const VAEOptions& vae);

}  // namespace ng::tools
