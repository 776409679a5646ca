// `nanogen train classifier`: trains the feature classifier of nanogen eval
// (models/classifier.h) with cross-entropy and Adam on a cosine schedule,
// keeps a run folder like the other trainers, and writes
// RUN/classifier.safetensors (tools/classifier_file.h) after every epoch.
#pragma once

#include <string>
#include <vector>

#include "models/classifier.h"
#include "tools/classifier_file.h"
#include "tools/model_options.h"
#include "tools/train_common.h"
#include "tools/trainer.h"

namespace ng::tools {

struct ClassifierSummary : RunSummary {
  models::ClassifierReport test;       // at the last completed epoch
  std::string classifier_file; // RUN/classifier.safetensors once an epoch is done, else empty
};

ClassifierSummary train_classifier(CommonOptions common, const ClassifierOptions& options);

// The `nanogen train classifier ...` command line that reproduces a run's
// options (--max-steps is left out: it only stops a run early).
std::string classifier_command(const CommonOptions& common, const ClassifierOptions& options);

}  // namespace ng::tools
