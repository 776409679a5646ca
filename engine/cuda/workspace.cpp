#include "engine/cuda/workspace.h"

#include <algorithm>
#include <cstdint>

namespace ng::cuda {

Tensor workspace(size_t bytes, Device device) {
  const int64_t n = int64_t((bytes + sizeof(double) - 1) / sizeof(double));
  return empty({std::max<int64_t>(n, 1)}, TensorOptions{}.with_dtype(DType::f64).with_device(device));
}

}  // namespace ng::cuda
