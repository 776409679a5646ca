// The fused Adam/AdamW update on the CPU: one pass over p, g, m, v.
#pragma once

#include <cstdint>

#include "engine/tensor.h"

namespace ng::cpu {

struct AdamStep {
  double lr, beta1, beta2, eps, weight_decay;
  bool decoupled;  // AdamW
  int64_t step;    // 1 at the first update
};

// All contiguous, same dtype and shape; p, m, v updated in place.
void adam_step(const AdamStep& s, const Tensor& p, const Tensor& g, const Tensor& m, const Tensor& v);

}  // namespace ng::cpu
