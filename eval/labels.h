// What a classifier says about a set of generated images: how sure it is of
// each image and how the images spread over the classes (mode collapse shows
// as classes that are missing or crowded).
#pragma once

#include <cstdint>
#include <vector>

#include "engine/tensor.h"

namespace ng::eval {

struct LabelStatistics {
  int64_t classes = 0;
  // Mean over images of the entropy of p(y|x), in nats (low: each image looks like one class).
  double conditional_entropy = 0;
  // Entropy of the marginal p(y) = mean_x p(y|x), in nats (log K when the classes are balanced).
  double marginal_entropy = 0;
  // exp(E_x KL(p(y|x) || p(y))) = exp(marginal - conditional): the Inception
  // Score computed with our classifier; at most K.
  double classifier_score = 0;
  // Fraction of images whose most likely class is each class ([K], sums to 1).
  std::vector<double> histogram;
  // Classes that receive at least half of their fair share (1 / 2K) of the images.
  int64_t classes_covered = 0;
};

// probabilities: [N, K] (rows sum to 1), any float dtype, CPU.
LabelStatistics label_statistics(const Tensor& probabilities);

}  // namespace ng::eval
