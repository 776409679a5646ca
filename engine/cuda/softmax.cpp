// softmax / log_softmax on the GPU: the op hands over contiguous tensors and
// the [outer, D, inner] layout; kernels/softmax.cu does the rest.
#include "engine/cuda/backend.h"
#include "engine/cuda/runtime.h"
#include "engine/error.h"
#include "kernels/softmax.h"

namespace ng::cuda {

void softmax_forward(const cpu::SoftmaxLayout& l, const Tensor& x, const Tensor& y, bool log) {
  NG_CHECK(x.is_contiguous() && y.is_contiguous(), "softmax: the CUDA kernel needs contiguous tensors, got ",
           shape_str(x.shape()), " and ", shape_str(y.shape()));
  kernels::launch_softmax_forward(scalar_type(x.dtype()), x.raw_data(), y.raw_data(), l.outer, l.D, l.inner, log,
                                  stream(x.device()));
}

void softmax_backward(const cpu::SoftmaxLayout& l, const Tensor& g, const Tensor& y, const Tensor& gx, bool log) {
  NG_CHECK(g.is_contiguous() && y.is_contiguous() && gx.is_contiguous(),
           "softmax backward: the CUDA kernel needs contiguous tensors, got ", shape_str(g.shape()));
  kernels::launch_softmax_backward(scalar_type(y.dtype()), g.raw_data(), y.raw_data(), gx.raw_data(), l.outer, l.D,
                                   l.inner, log, stream(y.device()));
}

}  // namespace ng::cuda
