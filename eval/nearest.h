// Memorisation: the training images nearest to generated ones.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/tensor.h"

namespace ng::eval {

// For each row of `queries` [m, D], the indices of its k nearest rows of
// `reference` [n, D] (Euclidean, nearest first; equal distances keep the
// smaller index first) and their distances. Works in blocks of query rows,
// each against the whole reference (block_rows of them; 0 picks blocks of
// about 64 MB), so that n may be the whole training set.
struct Neighbours {
  std::vector<std::vector<int64_t>> index;     // [m][k]
  std::vector<std::vector<double>> distance;   // [m][k]
};
Neighbours nearest_neighbours(const Tensor& queries, const Tensor& reference, int64_t k, int64_t block_rows = 0);

// The median over queries of the distance to the nearest reference row (the
// mean of the two middle values for an even count).
double median_nearest_distance(const Tensor& queries, const Tensor& reference);

}  // namespace ng::eval
