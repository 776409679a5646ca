// The CUDA caching allocator. cudaMalloc and cudaFree synchronise the device
// and cost tens of microseconds, so freed blocks are kept in per-size free
// lists and handed out again; in a training loop, after the first step,
// every allocation is a free-list hit.
//
// Sizes are rounded up (to 512 B below 1 MiB, to 2 MiB above) so that
// tensors of nearly equal size share blocks. A block freed on a stream is
// reused only by allocations on that same stream, which is what makes reuse
// safe without synchronising: work queued on one stream runs in order.
#pragma once

#include <cstddef>
#include <cstdint>

#include <cuda_runtime_api.h>

namespace ng::cuda {

struct AllocatorStats {
  size_t in_use = 0;       // bytes handed out and not yet freed
  size_t peak_in_use = 0;  // the largest in_use seen
  size_t cached = 0;       // bytes held in free lists
  size_t device_allocs = 0;  // cudaMalloc calls so far
};

void* allocate(size_t nbytes, int device, cudaStream_t stream);
void release(void* ptr);
AllocatorStats allocator_stats(int device = 0);
void reset_peak(int device = 0);
// Returns every cached block to the driver.
void empty_cache();
size_t round_size(size_t nbytes);

}  // namespace ng::cuda
