// Pointwise CUDA kernels: unary and binary ops from kernels/pointwise.h,
// where, fill, and a strided copy that converts between float32 and float64.
// Launchers take raw device pointers and a StridedGeometry; operand 0 is
// always the output.
#pragma once

#include <cuda_runtime_api.h>

#include "kernels/pointwise.h"
#include "kernels/strided.h"

namespace ng::kernels {

enum class ScalarType { f32, f64 };

void launch_unary(Unary op, ScalarType t, void* out, const void* a, const StridedGeometry<2>& g, double p0, double p1,
                  cudaStream_t stream);
void launch_binary(Binary op, ScalarType t, void* out, const void* a, const void* b, const StridedGeometry<3>& g,
                   cudaStream_t stream);
void launch_where(ScalarType t, void* out, const void* cond, const void* a, const void* b,
                  const StridedGeometry<4>& g, cudaStream_t stream);
void launch_fill(ScalarType t, void* out, const StridedGeometry<1>& g, double value, cudaStream_t stream);
void launch_copy(ScalarType out_type, void* out, ScalarType in_type, const void* in, const StridedGeometry<2>& g,
                 cudaStream_t stream);

}  // namespace ng::kernels
