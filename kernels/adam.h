// The Adam/AdamW update on the GPU (per-element math: kernels/adam_math.h,
// shared with the CPU, which it matches bit for bit).
//
// Two launchers:
//  - launch_adam: one tensor, a grid-stride loop of 4-element groups;
//  - launch_adam_multi: every tensor of an optimizer step in ONE launch.
//    A model has dozens of parameters, many small (biases, norms): one launch
//    each would cost more in launch gaps than in memory traffic. The tensors
//    are cut into chunks of kAdamChunk elements; block b of the grid updates
//    chunk chunks[b] = (tensor, index) of tensors[tensor]. Both arrays live in
//    a device workspace that the launcher fills with one host-to-device copy.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/adam_math.h"
#include "kernels/elementwise.h"  // ScalarType

namespace ng::kernels {

// One parameter: dense arrays of n elements of the launch's dtype.
struct AdamTensor {
  void* p;
  const void* g;
  void* m;
  void* v;
  int64_t n;
};

// Block b of a multi-tensor launch updates elements
// [index * kAdamChunk, min((index + 1) * kAdamChunk, n)) of tensors[tensor].
struct AdamChunk {
  int32_t tensor;
  int32_t index;
};

constexpr int kAdamThreads = 256;
constexpr int64_t kAdamChunk = 4 * 4 * kAdamThreads;  // four 4-element groups a thread

void launch_adam(ScalarType t, const AdamStep& h, const AdamTensor& x, cudaStream_t stream);

// The chunk map of a list of tensors (host side; empty tensors get none).
std::vector<AdamChunk> adam_chunk_map(const std::vector<AdamTensor>& tensors);
// A multi-tensor launch reads its arguments from device memory: the
// AdamTensor array, then (16-byte aligned, at chunks_offset) the chunk map.
// They are built here as host bytes; the caller uploads them
// (engine/cuda/optim.cpp, without waiting, through pinned memory) into a
// device buffer that stays allocated until the launch has run (stream order
// is enough).
struct AdamMultiArguments {
  std::vector<unsigned char> bytes;
  int32_t chunks = 0;
  size_t chunks_offset = 0;
};
AdamMultiArguments adam_multi_arguments(const std::vector<AdamTensor>& tensors);
// Updates every tensor in one launch, a block a chunk.
void launch_adam_multi(ScalarType t, const AdamStep& h, const AdamMultiArguments& a, const void* device_arguments,
                       cudaStream_t stream);

}  // namespace ng::kernels
