// `nanogen train ddpm`: the training loop of the DDPM (L_simple, Adam, EMA),
// its per-epoch samples, trajectory strips and variational bound, and its run
// folder. A library function, so that tests can train and resume too.
#pragma once

#include <memory>
#include <string>

#include "models/diffusion.h"
#include "models/unet.h"
#include "tools/model_options.h"
#include "tools/train_common.h"
#include "tools/trainer.h"

namespace ng::tools {

struct DDPMSummary : RunSummary {
  double last_epoch_loss = 0;  // mean L_simple of the last completed epoch
  double first_epoch_loss = 0; // ... of the first epoch this session completed
  models::BoundTerms bound;    // at the last completed epoch (images = 0 when not evaluated)
};

DDPMSummary train_ddpm(CommonOptions common, const DDPMOptions& ddpm);

}  // namespace ng::tools
