// Picking elements by index: argmax, gather, index_select and masked_fill,
// as in PyTorch. (nll_loss and cross_entropy, built on gather, are in
// engine/ops/loss.h.)
//
// nanogen's tensors are float32 or float64, so an index tensor is a float
// tensor holding whole numbers where PyTorch would use int64. Every index a
// dim here can hold is exact: float32 counts exactly to 2^24 (16.7 million),
// float64 to 2^53. argmax returns such a tensor and index_tensor makes one
// from integers. An op that takes one checks on the host that each entry is
// a whole number in range and names the first that is not; on the GPU that
// check costs a copy back (the index ops serve model building, not a
// training step's hot loop).
#pragma once

#include <vector>

#include "engine/tensor.h"

namespace ng {

// The indices as a 1-d tensor, or as a tensor of `shape`, in the dtype and on
// the device of `opts`.
Tensor index_tensor(const std::vector<int64_t>& indices, TensorOptions opts = {});
Tensor index_tensor(const std::vector<int64_t>& indices, const Shape& shape, TensorOptions opts = {});

// The index of the largest element along dim (the first on a tie; a NaN
// counts as the largest, as in PyTorch), in x's dtype and device; dim
// removed unless keepdim. Not differentiable. Without a dim: over all
// elements, as if x were flattened, shape [].
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor argmax(const Tensor& x);

// out[i][j][k] = x[index[i][j][k]][j][k] for dim 0 (and likewise for the
// others): index has x's number of dims and at most x's size in every dim
// but `dim`; out has index's shape. Differentiable in x: the gradient adds
// each out element's gradient back where it was picked from (a scatter-add,
// computed as a gather so that it is deterministic on the GPU too).
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);

// The slices x.select(dim, index[k]) for each k of the 1-d index, stacked
// along dim: x with x.size(dim) replaced by index.size(0). Differentiable in
// x (a gather with the index broadcast over the other dims).
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);

// x with `value` where mask (broadcast to x's shape) is nonzero.
// Differentiable in x: the filled elements get no gradient. Unlike PyTorch's
// out-of-place masked_fill, the mask may not grow the result beyond x's shape.
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value);

namespace detail {
// gather for ops that have already checked the index's values (nll_loss,
// index_select): every check but that one, so the index is not copied back
// from the GPU twice.
Tensor gather_checked_values(const Tensor& x, int64_t dim, const Tensor& index);
// Throws unless every entry of `index` is a whole number in [0, n).
void check_indices(const char* op, const Tensor& index, int64_t n);
}  // namespace detail

}  // namespace ng
