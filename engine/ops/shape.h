// Joining and splitting tensors, differentiable. (Views such as reshape,
// permute and narrow are Tensor methods; see engine/tensor.h.)
#pragma once

#include <vector>

#include "engine/tensor.h"

namespace ng {

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim = 0);
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim = 0);
// Views of ceil(n / chunks) along dim, as in PyTorch: the last may be
// smaller, and there may be fewer than `chunks` (5 in 4 chunks: 2,2,1).
std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim = 0);
// Views of `size` along dim (the last may be smaller), or of the given sizes.
std::vector<Tensor> split(const Tensor& x, int64_t size, int64_t dim = 0);
std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim = 0);

}  // namespace ng
