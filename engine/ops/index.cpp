// gather and its adjoint are the pair every index op is built on:
//   gather(x, index)            out[.., k, ..] = x[.., index[.., k, ..], ..]
//   gather_adjoint(g, index)    dx[.., j, ..]  = sum over k with index == j of g[.., k, ..]
// The backward of each is the other, so gradients of any order work. The
// index is data, not an input of the recorded nodes (nothing flows into it).
#include "engine/ops/index.h"

#include <cmath>
#include <string>

#include "engine/autograd.h"
#include "engine/cpu/index.h"
#include "engine/ops/dispatch.h"
#include "engine/ops/elementwise.h"

namespace ng {

using Grads = std::vector<Tensor>;

namespace {

// `shape` seen around dim d as [outer, n, inner].
kernels::AroundDim around(const Shape& shape, int64_t d) {
  kernels::AroundDim a;
  for (int64_t e = 0; e < int64_t(shape.size()); ++e) {
    if (e < d) a.outer *= shape[size_t(e)];
    if (e > d) a.inner *= shape[size_t(e)];
  }
  a.n = shape[size_t(d)];
  return a;
}

Tensor gather_adjoint(const Tensor& g, const Tensor& index, const Shape& x_shape, int64_t d);

// gather with its arguments checked: x and index contiguous, of one dtype and
// device, index.size(e) == x.size(e) for every e but d.
Tensor gather_checked(const Tensor& x, const Tensor& index, int64_t d) {
  Tensor out = empty(index.shape(), x.options());
  const kernels::AroundDim xs = around(x.shape(), d);
  if (x.device().is_cpu())
    cpu::gather(out, x, index, xs);
  else
    NG_ON_CUDA("gather", cuda::gather(out, x, index, xs), x, index);
  return record("GatherBackward", out, {x}, [si = SavedTensor(index), x_shape = x.shape(), d](const Tensor& g) {
    return Grads{gather_adjoint(g.contiguous(), si.get(), x_shape, d)};
  });
}

Tensor gather_adjoint(const Tensor& g, const Tensor& index, const Shape& x_shape, int64_t d) {
  Tensor dx = empty(x_shape, g.options());
  const kernels::AroundDim xs = around(x_shape, d);
  if (g.device().is_cpu())
    cpu::gather_backward(dx, index, g, xs);
  else
    NG_ON_CUDA("gather backward", cuda::gather_backward(dx, index, g, xs), index, g);
  return record("GatherAdjointBackward", dx, {g}, [si = SavedTensor(index), d](const Tensor& gg) {
    return Grads{gather_checked(gg.contiguous(), si.get(), d)};
  });
}

}  // namespace

void detail::check_indices(const char* op, const Tensor& index, int64_t n) {
  const std::vector<double> v = index.to_vector<double>();
  for (size_t i = 0; i < v.size(); ++i)
    NG_CHECK(v[i] == std::floor(v[i]) && v[i] >= 0 && v[i] < double(n), op, ": index ", v[i], " at position ", i,
             " is not a whole number in [0, ", n, ")");
}

Tensor index_tensor(const std::vector<int64_t>& indices, TensorOptions opts) {
  return index_tensor(indices, {int64_t(indices.size())}, opts);
}

Tensor index_tensor(const std::vector<int64_t>& indices, const Shape& shape, TensorOptions opts) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  NG_CHECK(n == int64_t(indices.size()), "index_tensor: ", indices.size(), " indices do not fill shape ",
           shape_str(shape), " (", n, " elements)");
  for (int64_t i : indices)
    NG_CHECK(opts.dtype == DType::f64 || (i < (int64_t(1) << 24) && i > -(int64_t(1) << 24)), "index_tensor: ", i,
             " is beyond what float32 holds exactly (2^24): use float64");
  return from_vector(std::vector<double>(indices.begin(), indices.end()), shape, opts);
}

Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) {
  const char* op = "argmax";
  const int64_t d = wrap_dim(op, dim, x.dim() == 0 ? 1 : x.dim());
  const Tensor xc = (x.dim() == 0 ? x.reshape({1}) : x).detach().contiguous();
  const kernels::AroundDim xs = around(xc.shape(), d);
  NG_CHECK(xs.n > 0, op, ": dim ", dim, " of ", shape_str(x.shape()), " is empty: there is no largest element");
  NG_CHECK(x.dtype() == DType::f64 || xs.n <= (int64_t(1) << 24), op, ": dim ", dim, " has ", xs.n,
           " elements, more than float32 indices count exactly (2^24): use float64");
  Shape shape = xc.shape();
  shape[size_t(d)] = 1;
  Tensor out = empty(shape, xc.options());
  if (x.device().is_cpu())
    cpu::argmax(out, xc, xs);
  else
    NG_ON_CUDA(op, cuda::argmax(out, xc, xs), xc);
  if (x.dim() == 0) return out.reshape({});
  return keepdim ? out : out.squeeze(d);
}

Tensor argmax(const Tensor& x) { return argmax(x.reshape({-1}), 0); }

Tensor detail::gather_checked_values(const Tensor& x, int64_t dim, const Tensor& index) {
  const char* op = "gather";
  NG_CHECK(index.device() == x.device(), op, ": index is on ", index.device().str(), ", input on ", x.device().str());
  NG_CHECK(index.dim() == x.dim(), op, ": index ", shape_str(index.shape()), " must have as many dims as input ",
           shape_str(x.shape()));
  const int64_t d = wrap_dim(op, dim, x.dim());
  Tensor picked_from = x;  // x cut to the index's extent in the other dims
  for (int64_t e = 0; e < x.dim(); ++e) {
    if (e == d) continue;
    NG_CHECK(index.size(e) <= x.size(e), op, ": index ", shape_str(index.shape()), " is larger than input ",
             shape_str(x.shape()), " in dim ", e);
    if (index.size(e) < x.size(e)) picked_from = picked_from.narrow(e, 0, index.size(e));
  }
  NG_CHECK(x.dtype() == DType::f64 || x.size(d) <= (int64_t(1) << 24), op, ": dim ", dim, " has ", x.size(d),
           " elements, more than float32 indices count exactly (2^24): use float64");
  return gather_checked(picked_from.contiguous(), index.to(x.dtype()).contiguous(), d);
}

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  if (index.dim() == x.dim() && x.dim() > 0) detail::check_indices("gather", index, x.size(wrap_dim("gather", dim, x.dim())));
  return detail::gather_checked_values(x, dim, index);
}

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  const char* op = "index_select";
  NG_CHECK(index.dim() == 1, op, ": index ", shape_str(index.shape()), " must be 1-d");
  NG_CHECK(x.dim() >= 1, op, ": input must have at least one dim");
  const int64_t d = wrap_dim(op, dim, x.dim());
  detail::check_indices(op, index, x.size(d));  // the 1-d index, before it is broadcast
  Shape out_shape = x.shape(), line(size_t(x.dim()), 1);
  out_shape[size_t(d)] = line[size_t(d)] = index.size(0);
  return detail::gather_checked_values(x, d, index.reshape(line).expand(out_shape));
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
  const char* op = "masked_fill";
  NG_CHECK(mask.device() == x.device(), op, ": mask is on ", mask.device().str(), ", input on ", x.device().str());
  NG_CHECK(broadcast_shapes(op, x.shape(), mask.shape()) == x.shape(), op, ": mask ", shape_str(mask.shape()),
           " does not broadcast to input ", shape_str(x.shape()));
  return where(mask.detach().to(x.dtype()), full({}, value, x.options()), x);
}

}  // namespace ng
