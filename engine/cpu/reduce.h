// CPU reductions over any set of dims. Accumulates in double, so float32
// sums are as accurate as the data allows.
#pragma once

#include <vector>

#include "engine/tensor.h"
#include "kernels/layouts.h"

namespace ng::cpu {

// out has in's shape with every reduced dim set to 1 (keepdim layout).
void reduce(kernels::ReduceOp op, const Tensor& out, const Tensor& in, const std::vector<bool>& reduced);

}  // namespace ng::cpu
