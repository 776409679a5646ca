// The CPU's loop over the Philox blocks of a draw (counter layout in
// kernels/philox.h): block b of an n-element draw starting at block `offset`
// covers elements 4b .. 4b+3. Shared by the random ops and the fused kernels
// that draw their noise in the same pass.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>

#include "kernels/philox.h"

namespace ng::cpu {

// Runs block_fn(words, first_element, count) for every Philox block of an
// n-element draw. Each block depends only on its own counter, so the blocks
// are split over threads with no coordination.
template <class BlockFn>
void for_each_philox_block(int64_t n, uint64_t seed, uint64_t offset, BlockFn block_fn) {
  const int64_t blocks = (n + 3) / 4;
  constexpr int64_t kGrain = 1 << 13;  // blocks below which threads cost more than they save
#pragma omp parallel for schedule(static) if (blocks >= kGrain && !omp_in_parallel())
  for (int64_t b = 0; b < blocks; ++b) {
    const kernels::PhiloxWords words = kernels::philox_block(seed, offset + uint64_t(b));
    block_fn(words, 4 * b, int(std::min<int64_t>(4, n - 4 * b)));
  }
}

}  // namespace ng::cpu
