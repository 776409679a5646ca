// softmax and log_softmax along one dim of a contiguous tensor seen as
// [outer, D, inner] (kernels/layouts.h's SoftmaxLayout; the dim of size D is
// normalised), forward and backward, with the CPU twin's formulas
// (engine/cpu/softmax.h):
//   forward:  y = exp(x - max) / sum(exp(x - max))   or   x - max - log(sum(...))
//   backward: gx = y * (g - sum(g * y))               or   g - exp(y) * sum(g)
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/elementwise.h"
#include "kernels/layouts.h"

namespace ng::kernels {

void launch_softmax_forward(ScalarType t, const SoftmaxLayout& l, const void* x, void* y, bool log, cudaStream_t stream);

void launch_softmax_backward(ScalarType t, const SoftmaxLayout& l, const void* g, const void* y, void* gx, bool log,
                             cudaStream_t stream);

}  // namespace ng::kernels
