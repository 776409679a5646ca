// The index ops on the GPU: the op layer hands contiguous tensors of one
// dtype and device (engine/ops/index.cpp); these check that and launch.
#include "engine/cuda/backend.h"
#include "engine/cuda/runtime.h"
#include "engine/error.h"
#include "kernels/index.h"

namespace ng::cuda {

namespace {

void check_operands(const char* op, std::initializer_list<const Tensor*> ts) {
  const Tensor& first = **ts.begin();
  for (const Tensor* t : ts)
    NG_CHECK(t->is_contiguous() && t->device() == first.device() && t->dtype() == first.dtype(), op,
             ": the CUDA kernel needs contiguous tensors of one dtype and device");
}

}  // namespace

void gather(const Tensor& out, const Tensor& x, const Tensor& index, const kernels::AroundDim& x_shape) {
  check_operands("gather", {&out, &x, &index});
  kernels::launch_gather(scalar_type(x.dtype()), out.raw_data(), x.raw_data(), index.raw_data(), index.numel(),
                         x_shape, stream(x.device()));
}

void gather_backward(const Tensor& dx, const Tensor& index, const Tensor& g, const kernels::AroundDim& x_shape) {
  check_operands("gather backward", {&dx, &index, &g});
  kernels::launch_gather_backward(scalar_type(g.dtype()), dx.raw_data(), index.raw_data(), g.raw_data(),
                                  index.numel(), x_shape, stream(g.device()));
}

void argmax(const Tensor& out, const Tensor& x, const kernels::AroundDim& x_shape) {
  check_operands("argmax", {&out, &x});
  kernels::launch_argmax(scalar_type(x.dtype()), out.raw_data(), x.raw_data(), x_shape, stream(x.device()));
}

}  // namespace ng::cuda
