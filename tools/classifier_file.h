// A trained feature classifier as one self-describing safetensors file: the
// weights (float32, no optimizer state) and, in __metadata__, everything
// needed to rebuild and trust it: the architecture, the data set, the test
// accuracy and the command and seed that produced it. `nanogen eval` loads
// one; `nanogen train classifier` writes RUN/classifier.safetensors.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/device.h"
#include <nlohmann/json.hpp>

#include "models/classifier.h"

namespace ng::tools {

struct ClassifierInfo {
  std::string data;                      // the --data spec it was trained on, e.g. "fashion-mnist"
  models::ClassifierConfig config;
  std::vector<std::string> class_names;  // may be empty
  double test_accuracy = 0;              // on `test_images` images of the test split
  int64_t test_images = 0;
  std::string command;                   // the `nanogen train classifier ...` that made it
  uint64_t seed = 0;
  int64_t epochs = 0;
  int64_t steps = 0;
};

// The layer the features are read at, as written into every file.
inline constexpr const char* kFeatureLayer = "body.12: the ReLU after the first Linear (body.11)";

struct LoadedClassifier {
  std::unique_ptr<models::Classifier> model;  // in eval mode, on the requested device
  ClassifierInfo info;
  std::string path;
};

// Writes the model's weights as float32 with `info` in the metadata (atomic).
void export_classifier(const models::Classifier& model, const ClassifierInfo& info, const std::string& path);

// Writes the classifier file of a run folder's last checkpoint, which must be
// the end of an epoch (where its test accuracy was measured).
void export_classifier(const std::string& run, const std::string& path);

// What the classifier file of a run records: from its config.json, the
// command that reproduces it, its test result, epochs and steps.
ClassifierInfo run_info(const nlohmann::json& config, const std::string& command, const models::ClassifierReport& test,
                        int64_t epochs, int64_t steps);

// Reads a file written by export_classifier. A file that is not one, is
// truncated or corrupt, or whose tensors do not match the architecture its
// metadata describes is refused with an error naming the file and the problem.
LoadedClassifier load_classifier(const std::string& path, Device device);

// The shipped classifier of a data set: for "fashion-mnist",
// assets/classifiers/fashion-mnist.safetensors, looked for in
// $NANOGEN_ASSETS_DIR, then ../../assets from the executable (build/bin/),
// then the source tree the binary was built from. Other data sets have
// none: the error says how to train one.
std::string default_classifier_path(const std::string& data_spec);

}  // namespace ng::tools
