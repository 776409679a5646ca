// unfold and fold on the GPU: the op layer hands contiguous tensors of one
// dtype and device (engine/ops/unfold.cpp); these check that and launch.
#include "engine/cuda/backend.h"
#include "engine/cuda/runtime.h"
#include "engine/error.h"
#include "kernels/unfold.h"

namespace ng::cuda {

namespace {

void check_pair(const char* op, const Tensor& out, const Tensor& in) {
  NG_CHECK(out.is_contiguous() && in.is_contiguous() && out.device() == in.device() && out.dtype() == in.dtype(),
           op, ": the CUDA kernel needs contiguous tensors of one dtype and device");
}

}  // namespace

void unfold(const Tensor& cols, const Tensor& x, const kernels::UnfoldGeometry& g) {
  check_pair("unfold", cols, x);
  kernels::launch_unfold(scalar_type(x.dtype()), cols.raw_data(), x.raw_data(), g, stream(x.device()));
}

void fold(const Tensor& x, const Tensor& cols, const kernels::UnfoldGeometry& g) {
  check_pair("fold", x, cols);
  kernels::launch_fold(scalar_type(cols.dtype()), x.raw_data(), cols.raw_data(), g, stream(cols.device()));
}

}  // namespace ng::cuda
