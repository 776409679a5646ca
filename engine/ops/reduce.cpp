#include "engine/ops/reduce.h"

#include <algorithm>

#include "engine/autograd.h"
#include "engine/cpu/reduce.h"
#include "engine/ops/dispatch.h"
#include "engine/ops/elementwise.h"

namespace ng {

using Grads = std::vector<Tensor>;

namespace {

// Which dims are reduced; an empty list means all of them.
std::vector<bool> reduced_mask(const char* op, const Tensor& x, const std::vector<int64_t>& dims) {
  std::vector<bool> r(size_t(x.dim()), dims.empty());
  for (int64_t d : dims) {
    const int64_t w = wrap_dim(op, d, x.dim());
    NG_CHECK(!r[w] || dims.empty(), op, ": dim ", d, " is listed twice");
    r[w] = true;
  }
  return r;
}

Shape keepdim_shape(const Tensor& x, const std::vector<bool>& reduced) {
  Shape s = x.shape();
  for (size_t d = 0; d < s.size(); ++d)
    if (reduced[d]) s[d] = 1;
  return s;
}

Shape final_shape(const Tensor& x, const std::vector<bool>& reduced, bool keepdim) {
  if (keepdim) return keepdim_shape(x, reduced);
  Shape s;
  for (size_t d = 0; d < reduced.size(); ++d)
    if (!reduced[d]) s.push_back(x.shape()[d]);
  return s;
}

Tensor launch_reduce(const char* op, kernels::ReduceOp kind, const Tensor& x, const std::vector<bool>& reduced) {
  Tensor out = empty(keepdim_shape(x, reduced), x.options());
  if (x.device().is_cpu())
    cpu::reduce(kind, out, x, reduced);
  else
    NG_ON_CUDA(op, cuda::reduce(kind, out, x, reduced), x);
  return out;
}

Tensor extremum(const char* op, kernels::ReduceOp kind, const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  const std::vector<bool> red = reduced_mask(op, x, dims);
  for (size_t d = 0; d < red.size(); ++d)
    NG_CHECK(!red[d] || x.shape()[d] > 0, op, ": cannot reduce over an empty dim of ", shape_str(x.shape()));
  Tensor kept = launch_reduce(op, kind, x, red);
  Tensor out = kept.view(final_shape(x, red, keepdim));
  return record(kind == kernels::ReduceOp::max ? "MaxBackward" : "MinBackward", out, {x},
                [sx = SavedTensor(x), sk = SavedTensor(kept), red](const Tensor& g) {
                  const Tensor x_ = sx.get(), k = sk.get();
                  const Tensor hits = eq(x_, k);  // 1 where x attains the extremum
                  const Tensor count = launch_reduce("max", kernels::ReduceOp::sum, hits, red);
                  return Grads{g.reshape(k.shape()) * hits / count};
                });
}

}  // namespace

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  const std::vector<bool> red = reduced_mask("sum", x, dims);
  Tensor out = launch_reduce("sum", kernels::ReduceOp::sum, x, red).view(final_shape(x, red, keepdim));
  return record("SumBackward", out, {x}, [shape = x.shape(), kshape = keepdim_shape(x, red)](const Tensor& g) {
    return Grads{g.reshape(kshape).expand(shape)};
  });
}

Tensor sum(const Tensor& x) { return sum(x, {}, false); }

Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  const std::vector<bool> red = reduced_mask("mean", x, dims);
  int64_t count = 1;
  for (size_t d = 0; d < red.size(); ++d)
    if (red[d]) count *= x.shape()[d];
  NG_CHECK(count > 0, "mean: cannot average over zero elements of ", shape_str(x.shape()));
  return sum(x, dims, keepdim) * (1.0 / double(count));
}

Tensor mean(const Tensor& x) { return mean(x, {}, false); }

Tensor max(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return extremum("max", kernels::ReduceOp::max, x, dims, keepdim);
}
Tensor max(const Tensor& x) { return max(x, {}, false); }
Tensor min(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return extremum("min", kernels::ReduceOp::min, x, dims, keepdim);
}
Tensor min(const Tensor& x) { return min(x, {}, false); }

}  // namespace ng
