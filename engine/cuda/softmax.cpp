// softmax / log_softmax on the GPU: the op hands over contiguous tensors and
// the [outer, D, inner] layout; kernels/softmax.cu does the rest.
#include "engine/cuda/backend.h"
#include "engine/cuda/runtime.h"
#include "engine/error.h"
#include "kernels/softmax.h"

namespace ng::cuda {

void softmax_forward(const kernels::SoftmaxLayout& l, const Tensor& x, const Tensor& y, bool log) {
  NG_CHECK(x.is_contiguous() && y.is_contiguous(), "softmax: the CUDA kernel needs contiguous tensors, got ",
           shape_str(x.shape()), " and ", shape_str(y.shape()));
  kernels::launch_softmax_forward(scalar_type(x.dtype()), l, x.raw_data(), y.raw_data(), log, stream(x.device()));
}

void softmax_backward(const kernels::SoftmaxLayout& l, const Tensor& g, const Tensor& y, const Tensor& gx, bool log) {
  NG_CHECK(g.is_contiguous() && y.is_contiguous() && gx.is_contiguous(),
           "softmax backward: the CUDA kernel needs contiguous tensors, got ", shape_str(g.shape()));
  kernels::launch_softmax_backward(scalar_type(y.dtype()), l, g.raw_data(), y.raw_data(), gx.raw_data(), log,
                                   stream(y.device()));
}

}  // namespace ng::cuda
