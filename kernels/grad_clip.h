// Gradient clipping by the joint L2 norm on the GPU: every gradient of a
// model in three launches (kernels/multi_tensor.h), where the composite
// (engine/optim/optimizer.cpp) takes about six small launches a tensor:
//   1. a block per chunk: the chunk's sum of squares, in double, into
//      partial[chunk];
//   2. one block: total = the partials summed in a fixed order,
//      norm = sqrt(total), scale = max_norm / (norm + 1e-6) where
//      norm > max_norm, else 1 (PyTorch's rule, the host rule's);
//   3. a block per chunk: g *= scale, the scale rounded once to the
//      gradients' dtype (as the host rule multiplies).
// Nothing is read back: the norm stays on the device. Every sum runs in one
// fixed order, so the result is the same bits on every run.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/elementwise.h"  // ScalarType
#include "kernels/multi_tensor.h"

namespace ng::kernels {

// One gradient: a dense array of n elements of the launch's dtype.
struct ClipTensor {
  void* grad;
  int64_t n;
};

// `device_arguments` holds multi_tensor_arguments(tensors) in device memory;
// `scratch` is room for a.chunks + 1 doubles; `norm` receives the joint norm
// (float64) before clipping.
void launch_clip_grad_norm_multi(ScalarType t, double max_norm, const MultiTensorArguments& a,
                                 const void* device_arguments, double* scratch, double* norm, cudaStream_t stream);

}  // namespace ng::kernels
