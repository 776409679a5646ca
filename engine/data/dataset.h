// An image data set held in memory: what every reader in engine/data returns
// and what DataLoader batches. Fashion-MNIST's 60000 training images take
// 188 MB as float32, small enough to keep whole.
#pragma once

#include <string>
#include <vector>

#include "engine/tensor.h"

namespace ng {

struct Dataset {
  Tensor images;                         // [N,C,H,W] float32 in [0,1], on the CPU
  std::vector<int> labels;               // N labels in [0, num_classes)
  int num_classes = 0;
  std::vector<std::string> class_names;  // num_classes names, or empty when unknown
  std::string name;                      // e.g. "fashion-mnist/train"

  int64_t size() const { return images.defined() ? images.size(0) : 0; }
  int64_t channels() const { return images.size(1); }
  int64_t height() const { return images.size(2); }
  int64_t width() const { return images.size(3); }
};

// Throws ng::Error naming the data set unless images is a 4-d float32 CPU
// tensor, labels has one entry an image, and every label is in range.
void check_dataset(const Dataset& dataset);

}  // namespace ng
