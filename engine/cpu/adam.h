// The fused Adam/AdamW update on the CPU: one pass over p, g, m, v. The
// per-element math lives in kernels/adam_math.h, shared with the GPU.
#pragma once

#include <cstdint>

#include "engine/tensor.h"
#include "kernels/adam_math.h"

namespace ng::cpu {

// All contiguous, same dtype and shape; p, m, v updated in place.
void adam_step(const kernels::AdamStep& s, const Tensor& p, const Tensor& g, const Tensor& m, const Tensor& v);

}  // namespace ng::cpu
