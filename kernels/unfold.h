// unfold (im2col) and fold (col2im) on the GPU, twins of engine/cpu/unfold.h
// with kernels/unfold_math.h's geometry: x [N, C, H, W] and cols
// [N, C*kh*kw, out_h*out_w], both contiguous. One thread per output element,
// each a gather (fold too: a pixel sums the entries read from it in the CPU's
// order), so results equal the CPU's bit for bit and need no atomics.
#pragma once

#include <cuda_runtime_api.h>

#include "kernels/elementwise.h"
#include "kernels/unfold_math.h"

namespace ng::kernels {

void launch_unfold(ScalarType t, void* cols, const void* x, const UnfoldGeometry& g, cudaStream_t stream);
void launch_fold(ScalarType t, void* x, const void* cols, const UnfoldGeometry& g, cudaStream_t stream);

}  // namespace ng::kernels
