// CPU implementations of the Philox draws (kernels/philox.h). Every output
// is contiguous and filled in row-major order from block `offset` on, with
// the counter layout documented in kernels/philox.h.
#pragma once

#include <cstdint>

#include "engine/tensor.h"

namespace ng::cpu {

// out[i] ~ U(0, 1).
void uniform(const Tensor& out, uint64_t seed, uint64_t offset);
// out[i] ~ N(0, 1).
void normal(const Tensor& out, uint64_t seed, uint64_t offset);
// out[i] = u[i] < p[i] ? 1 : 0, with u the uniforms of uniform(); p is
// contiguous with out's shape and dtype. Throws if some p is outside [0, 1].
void bernoulli(const Tensor& out, const Tensor& p, uint64_t seed, uint64_t offset);
// keep[i] = u[i] < p ? 0 : 1: the dropout mask, zero with probability p.
void dropout_mask(const Tensor& keep, double p, uint64_t seed, uint64_t offset);

}  // namespace ng::cpu
