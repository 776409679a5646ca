// The Adam/AdamW update on the GPU (per-element math: kernels/adam_math.h,
// shared with the CPU, which it matches bit for bit).
//
// Two launchers:
//  - launch_adam: one tensor, a grid-stride loop of 4-element groups;
//  - launch_adam_multi: every tensor of an optimizer step in ONE launch
//    (kernels/multi_tensor.h: a block a chunk of a tensor).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/adam_math.h"
#include "kernels/elementwise.h"  // ScalarType
#include "kernels/multi_tensor.h"

namespace ng::kernels {

// One parameter: dense arrays of n elements of the launch's dtype.
struct AdamTensor {
  void* p;
  const void* g;
  void* m;
  void* v;
  int64_t n;
};

void launch_adam(ScalarType t, const AdamStep& h, const AdamTensor& x, cudaStream_t stream);

// Updates every tensor in one launch; `device_arguments` holds
// multi_tensor_arguments(tensors) (kernels/multi_tensor.h) in device memory.
void launch_adam_multi(ScalarType t, const AdamStep& h, const MultiTensorArguments& a, const void* device_arguments,
                       cudaStream_t stream);

}  // namespace ng::kernels
