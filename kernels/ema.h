// The EMA update on the GPU: every averaged tensor of a model in ONE launch
// (kernels/multi_tensor.h), the per-element math of kernels/ema_math.h,
// shared with the CPU (engine/cpu/ema.cpp), which it matches bit for bit.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/elementwise.h"  // ScalarType
#include "kernels/multi_tensor.h"

namespace ng::kernels {

// One averaged tensor and the model's tensor it follows: dense arrays of n
// elements of the launch's dtype.
struct EmaTensor {
  void* average;
  const void* value;
  int64_t n;
};

// average = average * decay + value * (1 - decay) for every tensor;
// `device_arguments` holds multi_tensor_arguments(tensors) in device memory.
void launch_ema_multi(ScalarType t, double decay, const MultiTensorArguments& a, const void* device_arguments,
                      cudaStream_t stream);

}  // namespace ng::kernels
