// The rules the index kernels share with their CPU twins (engine/cpu/index.cpp),
// so both pick the same element.
#pragma once

#include <cstdint>

#include "kernels/hd.h"

namespace ng::kernels {

// A tensor seen around one dim: [outer, n, inner], contiguous.
struct AroundDim {
  int64_t outer = 1, n = 1, inner = 1;
};

// argmax's rule, PyTorch's: a NaN beats any number, and on a tie the first
// index wins (a later element replaces the best only when strictly better).
template <class T>
NG_HD bool beats(T candidate, T best) {
  const bool candidate_nan = candidate != candidate, best_nan = best != best;
  return candidate_nan ? !best_nan : (!best_nan && candidate > best);
}

}  // namespace ng::kernels
