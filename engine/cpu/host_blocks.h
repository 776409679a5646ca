// Host memory for tensors, with the largest blocks kept for reuse.
//
// glibc serves blocks above its mmap threshold (at most 32 MiB) with a fresh
// mmap and unmaps them on free, so every such tensor faults its pages in
// again: at batch 64 the U-Net's up path concatenates [64, 192, 28, 28]
// (38.5 MB) tensors, and a training step faulted in about 140 MB of pages
// (35k page faults, ~5% of the step). Blocks from 32 MiB up are therefore
// kept when freed and handed out again to an allocation of the same rounded
// size. When an allocation finds no block of its size, every kept block is
// released first, so the process never holds more memory than it would
// without the cache: between two misses nothing new is mapped.
#pragma once

#include <cstddef>

namespace ng::cpu {

// 64-byte aligned (a cache line; enough for any vector load). Throws
// ng::Error when the host is out of memory.
void* allocate_host(size_t nbytes);
// `nbytes` must be the size given to allocate_host.
void release_host(void* ptr, size_t nbytes);

// Blocks kept now, and their bytes (for tests).
struct HostBlockStats {
  size_t blocks = 0, bytes = 0;
};
HostBlockStats host_block_stats();

}  // namespace ng::cpu
