// The k smallest entries of one row of distances, with their column indices:
// one pass, keeping a sorted list of k candidates (k is small: 1 to ~10).
#pragma once

#include <cstdint>

namespace ng::eval {

struct Candidate {
  double value;
  int64_t index;
};

// Writes the k smallest of row[0..n) (skipping column `skip`; -1 skips none)
// to best[0..k), smallest first. Equal values keep the smaller index first.
// The caller guarantees that at least k columns remain.
inline void k_smallest(const double* row, int64_t n, int64_t k, int64_t skip, Candidate* best) {
  int64_t count = 0;
  for (int64_t j = 0; j < n; ++j) {
    const double v = row[j];
    // Strict comparisons: a later column (larger index) never displaces an equal value.
    if (j == skip || (count == k && !(v < best[k - 1].value))) continue;
    int64_t pos = count < k ? count++ : k - 1;
    for (; pos > 0 && v < best[pos - 1].value; --pos) best[pos] = best[pos - 1];
    best[pos] = {v, j};
  }
}

}  // namespace ng::eval
