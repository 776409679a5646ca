// Batch norm over the batch of every rank (PyTorch's SyncBatchNorm), for
// data-parallel training: the mean and variance of each channel are those of
// the whole global batch, so N ranks normalise as one process would.
#pragma once

#include "engine/dist/communicator.h"
#include "engine/tensor.h"

namespace ng::dist {

// x summed over the ranks, differentiable: its backward sums the gradients
// over the ranks too (every rank's loss depends on every rank's x).
Tensor all_reduce_sum(const Tensor& x, Communicator& ranks);

// Training-mode batch norm of x [N, C, ...] with the statistics of all the
// ranks' batches: the per-channel sums travel in two all-reduces (the mean,
// then the variance about it, as the one-process kernel computes them), and
// the running statistics take the global batch's mean and unbiased variance.
// weight and bias may be undefined. Differentiable in x, weight and bias.
Tensor sync_batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                       const Tensor& running_var, double momentum, double eps, Communicator& ranks);

}  // namespace ng::dist
