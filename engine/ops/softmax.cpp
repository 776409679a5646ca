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

Tensor softmax_op(const char* op, const char* node_name, const Tensor& x, int64_t dim, bool log) {
  // A 0-d tensor is treated as one line of one element (dim 0 or -1).
  const int64_t d = wrap_dim(op, dim, std::max<int64_t>(x.dim(), 1));
  cpu::SoftmaxLayout l;
  if (x.dim() > 0) {
    l.D = x.shape()[d];
    for (int64_t i = 0; i < d; ++i) l.outer *= x.shape()[i];
    for (int64_t i = d + 1; i < x.dim(); ++i) l.inner *= x.shape()[i];
  }
  const Tensor xc = x.detach().contiguous();
  Tensor y = empty(x.shape(), x.options());
  if (x.device().is_cpu())
    cpu::softmax_forward(l, xc, y, log);
  else
    NG_ON_CUDA(op, cuda::softmax_forward(l, xc, y, log));

  // The backward needs y. It is saved detached (saving the op's own output
  // as is would make the output own its node through the node: a cycle),
  // and x is kept to rebuild y differentiably when a graph of the backward
  // is being built (double backward).
  const std::vector<int64_t> dims = x.dim() > 0 ? std::vector<int64_t>{d} : std::vector<int64_t>{};
  return record(node_name, y, {x},
                [sx = SavedTensor(x), sy = SavedTensor(y.detach()), l, dims, dim, log, op](const Tensor& g) {
                  if (grad_enabled()) {
                    const Tensor x_ = sx.get();
                    if (log) return Grads{g - exp(log_softmax(x_, dim)) * sum(g, dims, true)};
                    const Tensor y_ = softmax(x_, dim);
                    return Grads{y_ * (g - sum(g * y_, dims, true))};
                  }
                  const Tensor y_ = sy.get(), gc = g.contiguous();
                  Tensor gx = empty(y_.shape(), y_.options());
                  if (g.device().is_cpu())
                    cpu::softmax_backward(l, gc, y_, gx, log);
                  else
                    NG_ON_CUDA(op, cuda::softmax_backward(l, gc, y_, gx, log));
                  return Grads{gx};
                });
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) { return softmax_op("softmax", "SoftmaxBackward", x, dim, false); }

Tensor log_softmax(const Tensor& x, int64_t dim) {
  return softmax_op("log_softmax", "LogSoftmaxBackward", x, dim, true);
}

}  // namespace ng
