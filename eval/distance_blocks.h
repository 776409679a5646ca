// Squared Euclidean distances between two sets of rows, computed with GEMM
// (||a||^2 + ||b||^2 - 2 a.b) one block of rows of `a` at a time, so that
// 10,000 x 60,000 distances never need to sit in memory together.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "engine/tensor.h"

namespace ng::eval {

// Doubles in one block of distances: 64 MB.
constexpr int64_t kDistanceBlockElements = int64_t(1) << 23;

// The rows of `a` per block: block_rows when positive, else as many as fit
// kDistanceBlockElements next to n_cols columns (at least one).
int64_t distance_block_rows(int64_t block_rows, int64_t n_rows, int64_t n_cols);

// For a [m, D] and b [n, D] (contiguous float64, checked by the caller),
// calls visit(first_row, block) for consecutive row blocks of `a`, in order,
// where block [rows, n] holds the squared distances of a[first_row + r] to
// every row of b, clamped at 0 (rounding can make the formula dip below it).
using DistanceBlockVisitor = std::function<void(int64_t first_row, const Tensor& block)>;
void for_each_distance_block(const Tensor& a, const Tensor& b, int64_t block_rows, const DistanceBlockVisitor& visit);

}  // namespace ng::eval
