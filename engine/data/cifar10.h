// CIFAR-10, binary version (https://www.cs.toronto.edu/~kriz/cifar.html):
// data_batch_1.bin .. data_batch_5.bin (train) and test_batch.bin (test), each
// a run of 3073-byte records: 1 label byte, then a 32x32 image as 1024 red,
// 1024 green and 1024 blue bytes (CHW, row-major).
#pragma once

#include <string>
#include <vector>

#include "engine/data/dataset.h"

namespace ng {

// The records of the given batch files, concatenated in order, as a Dataset
// with images [N,3,32,32] float32 in [0,1] and the ten CIFAR-10 class names.
Dataset read_cifar10_batches(const std::vector<std::string>& paths, const std::string& name = "cifar10");

// The train (5 batches, 50000 images) or test (10000 images) split in `dir`,
// or in dir/cifar-10-batches-bin, where the official archive unpacks.
Dataset load_cifar10(const std::string& dir, const std::string& split);

}  // namespace ng
