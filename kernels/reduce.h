// Reductions (sum, max, min) over any set of dims of a strided tensor, into a
// strided output (the CPU's keepdim layout). Deterministic: the same shape
// and strides always reduce in the same order, with no atomics, so a result
// is the same bits on every run.
//
// The caller describes the problem as two lists of merged dims (outermost
// first): the kept dims, which index the outputs, and the reduced dims,
// which index the elements of one output's reduction. plan_reduce() picks a
// strategy from that geometry alone; launch_reduce() runs it.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "kernels/elementwise.h"
#include "kernels/layouts.h"
#include "kernels/strided.h"

namespace ng::kernels {

struct ReduceGeometry {
  int64_t n_out = 1;  // number of outputs: the product of kept_shape
  int64_t n_red = 1;  // elements reduced into each output: the product of red_shape
  int kept_ndim = 1;
  int64_t kept_shape[kMaxDims] = {1};
  int64_t kept_in[kMaxDims] = {};   // input strides of the kept dims
  int64_t kept_out[kMaxDims] = {};  // output strides of the kept dims
  int red_ndim = 1;
  int64_t red_shape[kMaxDims] = {1};
  int64_t red_in[kMaxDims] = {};  // input strides of the reduced dims
};

// How the work is split:
//  - rows: a group of `group` threads (a warp, 32, or a block, 256) reduces
//    one output, reading along the reduction (best when the reduced elements
//    are adjacent in memory);
//  - columns: a thread per output, `group` threads (8, or 1 when the
//    reduction is tiny) splitting each reduction inside a block (best when
//    neighbouring outputs are adjacent in memory and the reduction strided).
// With chunks > 1, each output's reduction is cut into `chunks` fixed pieces
// reduced by different blocks into a workspace, then combined in order by a
// second kernel (the two-pass split for few, long reductions).
enum class ReduceStrategy { rows, columns };

struct ReducePlan {
  ReduceStrategy strategy = ReduceStrategy::rows;
  int group = 32;
  int64_t chunks = 1;
  size_t workspace_bytes = 0;  // device scratch launch_reduce needs (0: none)
};

ReducePlan plan_reduce(ReduceOp op, ScalarType t, const ReduceGeometry& g);

// out and in point at element 0 of their views. Sums accumulate in double
// for float32 and float64 alike; max and min propagate NaN (any NaN in a
// reduction makes its result NaN).
void launch_reduce(ReduceOp op, ScalarType t, void* out, const void* in, const ReduceGeometry& g,
                   const ReducePlan& plan, void* workspace, cudaStream_t stream);

}  // namespace ng::kernels
