// Device scratch memory for kernels that need room for partial results.
#pragma once

#include <cstddef>

#include "engine/tensor.h"

namespace ng::cuda {

// A device buffer of at least `bytes` (a float64 tensor: the allocator hands
// out whole cudaMalloc blocks, 256-byte aligned). It returns to
// the caching allocator when the tensor goes; that is safe while the kernels
// using it are still queued, because the allocator reuses a block only for
// work on the same stream, which runs after them.
Tensor workspace(size_t bytes, Device device);

}  // namespace ng::cuda
