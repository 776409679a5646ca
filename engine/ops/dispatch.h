// What every op does before it computes: check its arguments (with messages
// that name the op and the shapes) and pick the backend.
#pragma once

#include <initializer_list>
#include <string>

#include "engine/error.h"
#include "engine/memory.h"
#include "engine/tensor.h"

namespace ng {

// The NumPy broadcast of two shapes; throws naming `op` and both shapes.
Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b);

// Throws unless every defined tensor has the dtype and device of the first.
void check_same_dtype_device(const char* op, std::initializer_list<Tensor> tensors);

// Throws unless t has exactly `ndim` dims; `what` names the argument.
void check_dim(const char* op, const char* what, const Tensor& t, int64_t ndim);

}  // namespace ng

// Runs `call` (a CUDA implementation) in a CUDA build, else throws a clear
// error naming the op. Any failure on the GPU becomes an ng::Error naming the
// op and the tensors listed after the call (engine/memory.h's run_on_cuda):
//   NG_ON_CUDA("conv2d", cuda::conv2d_forward(y, x, w, b, stride, padding), x, w);
#ifdef NANOGEN_WITH_CUDA
#include "engine/cuda/backend.h"
#define NG_ON_CUDA(op_name, call, ...) ::ng::run_on_cuda(op_name, {__VA_ARGS__}, [&] { call; })
#else
#define NG_ON_CUDA(op_name, call, ...) ::ng::require_cuda(op_name)
#endif
