// Philox random numbers on the GPU: the same numbers as the CPU backend
// (engine/cpu/random.cpp) for the same (seed, offset), with the counter
// layout of kernels/philox.h. Outputs are dense arrays of n elements; element
// i comes from Philox block offset + i / 4. One thread computes one block
// and writes its four elements (a 16-byte store where aligned).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/elementwise.h"  // ScalarType

namespace ng::kernels {

// out[i] ~ U(0, 1): kernels::uniform_from_word of word i % 4.
void launch_uniform(ScalarType t, void* out, int64_t n, uint64_t seed, uint64_t offset, cudaStream_t stream);
// out[i] ~ N(0, 1): Box-Muller in float64 over the block's word pairs.
void launch_normal(ScalarType t, void* out, int64_t n, uint64_t seed, uint64_t offset, cudaStream_t stream);
// out[i] = u[i] < p[i] ? 1 : 0 (p dense, same dtype). Every p outside [0, 1]
// (or NaN) adds one to *bad, a device counter the caller zeroes first and
// reads back.
void launch_bernoulli(ScalarType t, void* out, const void* p, int64_t n, uint64_t seed, uint64_t offset,
                      unsigned int* bad, cudaStream_t stream);
// keep[i] = u[i] < p ? 0 : 1, the dropout mask.
void launch_dropout_mask(ScalarType t, void* keep, int64_t n, double p, uint64_t seed, uint64_t offset,
                         cudaStream_t stream);

}  // namespace ng::kernels
