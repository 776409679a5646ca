// The small CNN whose penultimate layer is the feature space of nanogen eval
// (FID, KID, precision/recall) and whose class probabilities measure how a
// generator covers the classes. Inception-v3 weights cannot be fetched here,
// and on 28x28 grey images a classifier trained on the data set itself is the
// usual and better choice.
//
//   features: Conv(C,32,3,p1) ReLU Conv(32,32,3,p1) ReLU AvgPool2
//             Conv(32,64,3,p1) ReLU Conv(64,64,3,p1) ReLU AvgPool2
//             Flatten Linear(64*H/4*W/4, 128) ReLU          -> the 128 features
//   head:     Dropout Linear(128, classes)                   -> logits
//
// Inputs are images in [0,1], [N,C,H,W] (H and W divisible by 4).
// Parameter names follow the PyTorch twin nn.Sequential: body.0.weight,
// body.2.weight, body.5..., body.7..., body.11... and head.1.weight.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "engine/nn/layers.h"

namespace ng::models {

struct ClassifierConfig {
  int64_t channels = 1, height = 28, width = 28;
  int64_t classes = 10;
  int64_t feature_dim = 128;
  int64_t conv1 = 32, conv2 = 64;  // narrow models for tests
  double dropout = 0.3;
};

class Classifier : public nn::Module {
 public:
  explicit Classifier(const ClassifierConfig& config, Generator& gen = default_generator());

  // The number of weights a model of `config` has, without building it (a
  // file's metadata is checked against its tensors before any allocation);
  // INT64_MAX when it overflows. Mirrors the constructor's layers.
  static int64_t parameter_count(const ClassifierConfig& config);

  // The feature vector of each image, [N, feature_dim] (after the ReLU).
  Tensor features(const Tensor& images) const;
  // Class logits from features, [N, classes].
  Tensor logits_from_features(const Tensor& features) const;
  Tensor logits(const Tensor& images) const { return logits_from_features(features(images)); }

  // Dropout masks are drawn from `gen` (a trainer's checkpointed stream, so
  // a resumed run draws the masks an uninterrupted one would have).
  void set_dropout_generator(Generator& gen);

  const ClassifierConfig& config() const { return config_; }
  std::shared_ptr<nn::Sequential> body, head;

 private:
  ClassifierConfig config_;
  Generator* dropout_gen_;
};

// The mean cross-entropy -log softmax(logits)[label] over the batch, as
// log_softmax times a one-hot matrix (both already gradient-checked ops).
// logits [N, K], labels N values in [0, K).
Tensor cross_entropy(const Tensor& logits, const std::vector<int>& labels);

// The most likely class of each row of logits [N, K] (the first on ties).
std::vector<int> predicted_classes(const Tensor& logits);

// The fraction of rows whose most likely class (the first on ties) is the
// label, as a float64 scalar on logits' device: computed there, so that a
// training step need not wait for the GPU to know it.
Tensor accuracy(const Tensor& logits, const std::vector<int>& labels);

// Mean cross-entropy (nats) and accuracy over a labelled set.
struct ClassifierReport {
  double loss = 0, accuracy = 0;
  int64_t images = 0;
};

// Evaluates a model (which should be in eval mode) on images [N,C,H,W] in [0,1].
ClassifierReport evaluate_classifier(const models::Classifier& model, const Tensor& images,
                                     const std::vector<int>& labels, int64_t batch_size, Device device);

}  // namespace ng::models
