// The fused Adam/AdamW update on the CPU: one pass over p, g, m, v. The
// per-element math lives in kernels/adam_math.h, shared with the GPU.
#pragma once

#include <cstdint>

#include "engine/tensor.h"
#include "kernels/adam_math.h"

namespace ng::cpu {

struct AdamStep {
  double lr, beta1, beta2, eps, weight_decay;
  bool decoupled;  // AdamW
  int64_t step;    // 1 at the first update
};

// One parameter's tensors, for the multi-tensor update of the CUDA backend.
struct AdamTensors {
  Tensor p, g, m, v;
};

kernels::AdamHyper adam_hyper(const AdamStep& s);

// All contiguous, same dtype and shape; p, m, v updated in place.
void adam_step(const AdamStep& s, const Tensor& p, const Tensor& g, const Tensor& m, const Tensor& v);

}  // namespace ng::cpu
