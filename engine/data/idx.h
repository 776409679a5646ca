// MNIST-format IDX files (http://yann.lecun.com/exdb/mnist/), gzipped or raw.
// A header of big-endian 32-bit words -- a magic number (0x00000803: unsigned
// bytes, 3 dims; 0x00000801: unsigned bytes, 1 dim) then one word per dim --
// followed by the bytes themselves, row-major.
#pragma once

#include <string>
#include <vector>

#include "engine/tensor.h"

namespace ng {

// Images [N,1,H,W] float32 in [0,1] (bytes / 255).
Tensor read_idx_images(const std::string& path);
// Labels as ints 0..255.
std::vector<int> read_idx_labels(const std::string& path);

}  // namespace ng
