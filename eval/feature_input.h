// The checks every metric makes on its inputs, and the one form it computes
// on: a contiguous float64 CPU matrix without autograd history.
#pragma once

#include <cstdint>

#include "engine/tensor.h"

namespace ng::eval {

// Checks that `t` is a defined 2-D CPU tensor with at least `min_rows` rows,
// D >= 1 columns and finite values, and returns it as a contiguous float64 matrix (float32 is converted).
// `op` and `what` name the function and the argument in error messages:
// "fid: features_b is [10] (1-D); expected a [N, D] matrix".
Tensor as_feature_matrix(const Tensor& t, const char* op, const char* what, int64_t min_rows = 1);

// Throws unless a [m, D] and b [n, D] have the same number of columns.
void check_same_width(const Tensor& a, const Tensor& b, const char* op, const char* what_a, const char* what_b);

}  // namespace ng::eval
