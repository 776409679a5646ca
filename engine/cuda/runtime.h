// The engine's view of the CUDA runtime: which devices exist, the stream
// every op of a device is queued on, and Tensor -> kernel-argument helpers.
#pragma once

#include <cuda_runtime_api.h>

#include "engine/tensor.h"
#include "kernels/elementwise.h"
#include "kernels/strided.h"

namespace ng::cuda {

// The stream all of nanogen's work on `device` goes to (created on first use).
cudaStream_t stream(int device);
inline cudaStream_t stream(Device d) { return stream(d.index); }
// Waits for all queued work on the device.
void synchronize(int device);

kernels::ScalarType scalar_type(DType t);

// The launch geometry of a pointwise op: out's shape, each operand's strides
// broadcast to it, adjacent dims merged where all operands allow.
template <int N>
kernels::StridedGeometry<N> geometry(const Tensor& out, const Tensor* const (&operands)[N]);

}  // namespace ng::cuda
