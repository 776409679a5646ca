// The EMA update on the CPU: one pass, the per-element math of
// kernels/ema_math.h, shared with the GPU's multi-tensor kernel.
#pragma once

#include "engine/tensor.h"

namespace ng::cpu {

// average = average * decay + value * (1 - decay); both contiguous, of one
// shape and dtype; average updated in place.
void ema_update(const Tensor& average, const Tensor& value, double decay);

}  // namespace ng::cpu
