// `nanogen train classifier`: trains the feature classifier of nanogen eval
// (models/classifier.h) with cross-entropy and Adam on a cosine schedule,
// keeps a run folder like the other trainers, and writes
// RUN/classifier.safetensors (tools/classifier_file.h) after every epoch.
#pragma once

#include <string>
#include <vector>

#include "models/classifier.h"
#include "tools/classifier_file.h"
#include "tools/train_common.h"

namespace ng::tools {

struct ClassifierOptions {
  int64_t feature_dim = 128;
  double dropout = 0.3;
  std::string schedule = "cosine";  // learning rate: cosine (to 0 at the end of --epochs) | constant
};

// Mean cross-entropy (nats) and accuracy over a labelled set.
struct ClassifierReport {
  double loss = 0, accuracy = 0;
  int64_t images = 0;
};

struct ClassifierSummary {
  std::string run;
  int64_t steps = 0;  // optimizer steps taken in all (including earlier sessions)
  int64_t epochs_done = 0;
  bool interrupted = false;
  ClassifierReport test;       // at the last completed epoch
  std::string classifier_file; // RUN/classifier.safetensors once an epoch is done, else empty
};

ClassifierSummary train_classifier(CommonOptions common, const ClassifierOptions& options);

// Evaluates a model (which should be in eval mode) on images [N,C,H,W] in [0,1].
ClassifierReport evaluate_classifier(const models::Classifier& model, const Tensor& images,
                                     const std::vector<int>& labels, int64_t batch_size, Device device);

// Writes the classifier file of a run folder's last checkpoint, which must be
// the end of an epoch (where its test accuracy was measured).
void export_classifier(const std::string& run, const std::string& path);

// The `nanogen train classifier ...` command line that reproduces a run's
// options (--max-steps is left out: it only stops a run early).
std::string classifier_command(const CommonOptions& common, const ClassifierOptions& options);

}  // namespace ng::tools
