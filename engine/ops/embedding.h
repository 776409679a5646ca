// Looking rows up by index: one_hot and embedding, for class labels (the
// conditional models) and anything else that maps a small set of ids to
// vectors.
//
// An embedding is a linear map of a one-hot vector: row y of W is
// one_hot(y) @ W. nanogen computes it exactly that way, as one matrix
// product, so it needs no kernel of its own and its gradient is the matrix
// product's: dL/dW = one_hot^T @ dL/dout, the rows of dL/dout summed per id
// (what a scatter-add computes; no atomics, so deterministic). That costs
// N x num x dim multiply-adds instead of N x dim copies, nothing for the tens
// of classes it serves here; a vocabulary of 50,000 words would want a gather
// kernel instead.
#pragma once

#include <vector>

#include "engine/tensor.h"

namespace ng {

// [N, classes] of 0 and 1, row i with its 1 at column indices[i]; each index
// must be in [0, classes).
Tensor one_hot(const std::vector<int64_t>& indices, int64_t classes, TensorOptions opts = {});

// Rows of weight [num, dim] picked by indices (each in [0, num)): [N, dim],
// differentiable in weight. The lookup is exact under every matmul precision
// (it runs in fp32: a tf32 product would round the weights); its gradient
// follows the precision in force, as every layer's does.
Tensor embedding(const Tensor& weight, const std::vector<int64_t>& indices);

}  // namespace ng
