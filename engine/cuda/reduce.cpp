// reduce on the GPU: the tensors' dims are sorted into kept and reduced
// lists, reordered so memory order is innermost and merged, then handed to
// kernels/reduce.cu with a device workspace when the plan splits the work.
#include <algorithm>
#include <cstdlib>

#include "engine/cpu/loops.h"
#include "engine/cuda/backend.h"
#include "engine/cuda/runtime.h"
#include "engine/cuda/workspace.h"
#include "engine/error.h"
#include "kernels/reduce.h"

namespace ng::cuda {

namespace {

struct Dim {
  int64_t size, in_stride, out_stride;
};

// Dims in decreasing input stride, so the innermost loop walks memory in
// order; any order is valid: outputs are located by both strides, and a
// reduction visits each element once in whatever order. The sort is stable,
// so equal strides keep the logical order.
std::vector<Dim> by_memory_order(std::vector<Dim> dims) {
  std::stable_sort(dims.begin(), dims.end(),
                   [](const Dim& a, const Dim& b) { return std::abs(a.in_stride) > std::abs(b.in_stride); });
  return dims;
}

kernels::ReduceGeometry reduce_geometry(const Tensor& out, const Tensor& in, const std::vector<bool>& reduced) {
  std::vector<Dim> kept, red;
  for (int64_t d = 0; d < in.dim(); ++d) {
    const Dim dim{in.shape()[size_t(d)], in.strides()[size_t(d)], out.strides()[size_t(d)]};
    (reduced[size_t(d)] ? red : kept).push_back(dim);
  }
  Shape kept_shape, kept_in, kept_out, red_shape, red_in;
  for (const Dim& d : by_memory_order(kept)) {
    kept_shape.push_back(d.size);
    kept_in.push_back(d.in_stride);
    kept_out.push_back(d.out_stride);
  }
  for (const Dim& d : by_memory_order(red)) {
    red_shape.push_back(d.size);
    red_in.push_back(d.in_stride);
  }
  // Merging drops size-1 dims and fuses dims that are contiguous in every
  // operand; an empty list becomes one dim of size 1.
  const cpu::LoopPlan<2> k = cpu::plan_loop<2>(kept_shape, {kept_in, kept_out});
  const cpu::LoopPlan<1> r = cpu::plan_loop<1>(red_shape, {red_in});
  NG_CHECK(k.shape.size() <= size_t(kernels::kMaxDims) && r.shape.size() <= size_t(kernels::kMaxDims),
           "reduce: input ", shape_str(in.shape()), " has more non-mergeable dims than the kernels' limit of ",
           kernels::kMaxDims);
  kernels::ReduceGeometry g;
  g.kept_ndim = int(k.shape.size());
  g.red_ndim = int(r.shape.size());
  g.n_out = shape_numel(k.shape);
  g.n_red = shape_numel(r.shape);
  for (size_t d = 0; d < k.shape.size(); ++d) {
    g.kept_shape[d] = k.shape[d];
    g.kept_in[d] = k.strides[0][d];
    g.kept_out[d] = k.strides[1][d];
  }
  for (size_t d = 0; d < r.shape.size(); ++d) {
    g.red_shape[d] = r.shape[d];
    g.red_in[d] = r.strides[0][d];
  }
  return g;
}

kernels::ReduceOp reduce_op(kernels::ReduceOp op) {
  switch (op) {
    case kernels::ReduceOp::sum: return kernels::ReduceOp::sum;
    case kernels::ReduceOp::max: return kernels::ReduceOp::max;
    case kernels::ReduceOp::min: return kernels::ReduceOp::min;
  }
  return kernels::ReduceOp::sum;
}

}  // namespace

void reduce(kernels::ReduceOp op, const Tensor& out, const Tensor& in, const std::vector<bool>& reduced) {
  NG_CHECK(out.device() == in.device() && out.dtype() == in.dtype(), "reduce: output ", shape_str(out.shape()),
           " must have the input's dtype and device");
  if (out.numel() == 0) return;
  const kernels::ReduceGeometry g = reduce_geometry(out, in, reduced);
  const kernels::ScalarType t = scalar_type(in.dtype());
  const kernels::ReducePlan plan = kernels::plan_reduce(reduce_op(op), t, g);
  const Tensor ws = plan.workspace_bytes ? workspace(plan.workspace_bytes, in.device()) : Tensor();
  kernels::launch_reduce(reduce_op(op), t, out.raw_data(), in.raw_data(), g, plan,
                         ws.defined() ? ws.raw_data() : nullptr, stream(in.device()));
}

}  // namespace ng::cuda
