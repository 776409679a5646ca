#include "engine/ops/softmax.h"

#include <algorithm>

#include "engine/autograd.h"
#include "engine/cpu/softmax.h"
#include "engine/ops/dispatch.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/reduce.h"

namespace ng {

using Grads = std::vector<Tensor>;

namespace {

// t seen as [outer, D, inner] around dim d. A 0-d tensor is one line of one
// element (dim 0 or -1).
kernels::SoftmaxLayout layout_of(const Tensor& t, int64_t d) {
  kernels::SoftmaxLayout l;
  if (t.dim() > 0) {
    l.D = t.shape()[d];
    for (int64_t i = 0; i < d; ++i) l.outer *= t.shape()[i];
    for (int64_t i = d + 1; i < t.dim(); ++i) l.inner *= t.shape()[i];
  }
  return l;
}

// The dims the composite formulas reduce over: d, or none for a 0-d tensor.
std::vector<int64_t> line_dims(const Tensor& t, int64_t d) {
  return t.dim() > 0 ? std::vector<int64_t>{d} : std::vector<int64_t>{};
}

Tensor softmax_op(const char* op, const char* node_name, const Tensor& x, int64_t dim, bool log) {
  const int64_t d = wrap_dim(op, dim, std::max<int64_t>(x.dim(), 1));
  const Tensor xc = x.detach().contiguous();
  Tensor y = empty(x.shape(), x.options());
  if (x.device().is_cpu())
    cpu::softmax_forward(layout_of(x, d), xc, y, log);
  else
    NG_ON_CUDA(op, cuda::softmax_forward(layout_of(x, d), xc, y, log), x);
  return record(node_name, y, {x}, [sy = SavedTensor::output(y), d, log](const Tensor& g) {
    return Grads{softmax_backward(g, sy.get(), d, log)};
  });
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) { return softmax_op("softmax", "SoftmaxBackward", x, dim, false); }

Tensor log_softmax(const Tensor& x, int64_t dim) {
  return softmax_op("log_softmax", "LogSoftmaxBackward", x, dim, true);
}

// The gradients of gx with respect to g and y, for an output gradient gg:
//   softmax:     gx = y (g - s), s = sum(g y)  ->  g: gg y - y sum(gg y) (the same op: its
//                Jacobian is symmetric);  y: gg (g - s) - g sum(gg y)
//   log_softmax: gx = g - exp(y) sum(g)  ->  g: gg - sum(gg exp(y));  y: -gg exp(y) sum(g)
Tensor softmax_backward(const Tensor& g, const Tensor& y, int64_t dim, bool log) {
  const char* op = log ? "log_softmax_backward" : "softmax_backward";
  NG_CHECK(g.shape() == y.shape(), op, ": gradient ", shape_str(g.shape()), " and output ", shape_str(y.shape()),
           " differ in shape");
  check_same_dtype_device(op, {g, y});
  const int64_t d = wrap_dim(op, dim, std::max<int64_t>(y.dim(), 1));
  const Tensor gc = g.detach().contiguous(), yc = y.detach().contiguous();
  Tensor gx = empty(y.shape(), y.options());
  if (y.device().is_cpu())
    cpu::softmax_backward(layout_of(y, d), gc, yc, gx, log);
  else
    NG_ON_CUDA(op, cuda::softmax_backward(layout_of(y, d), gc, yc, gx, log), g, y);
  const bool need_g = needs_grad({g}), need_y = needs_grad({y});
  return record(log ? "LogSoftmaxBackwardBackward" : "SoftmaxBackwardBackward", gx, {g, y},
                [sg = SavedTensor(need_y ? g : Tensor()), sy = SavedTensor(y), d, log, need_g, need_y](
                    const Tensor& gg) {
                  const Tensor y_ = sy.get(), g_ = sg.get();
                  const std::vector<int64_t> dims = line_dims(y_, d);
                  Grads out(2);
                  if (log) {
                    const Tensor p = exp(y_);
                    if (need_g) out[0] = gg - sum(gg * p, dims, true);
                    if (need_y) out[1] = -(gg * p * sum(g_, dims, true));
                  } else {
                    if (need_g) out[0] = softmax_backward(gg, y_, d, false);
                    if (need_y) out[1] = gg * (g_ - sum(g_ * y_, dims, true)) - g_ * sum(gg * y_, dims, true);
                  }
                  return out;
                });
}

}  // namespace ng
