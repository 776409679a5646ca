#include "engine/cpu/host_blocks.h"

#include <cstdlib>
#include <map>
#include <mutex>
#include <string>

#include "engine/error.h"

namespace ng::cpu {

namespace {

// From glibc's largest mmap threshold up. Sizes are rounded to pages only:
// a training step asks for the same sizes every time, and a coarser
// rounding would let a reused block hold more touched pages than the tensor
// needs (measured: +24 MB of peak resident memory at 2 MiB).
constexpr size_t kLargeBlock = size_t(32) << 20;
constexpr size_t kLargeRounding = 4096;

size_t rounded_size(size_t nbytes) {
  if (nbytes >= kLargeBlock) return (nbytes + kLargeRounding - 1) / kLargeRounding * kLargeRounding;
  return nbytes ? (nbytes + 63) / 64 * 64 : 64;
}

void* aligned_or_throw(size_t bytes) {
  void* p = std::aligned_alloc(64, bytes);
  if (!p) throw Error("alloc: out of host memory allocating " + std::to_string(bytes) + " bytes");
  return p;
}

class LargeBlocks {
 public:
  void* take(size_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = kept_.find(bytes);
      if (it != kept_.end()) {
        void* p = it->second;
        kept_.erase(it);
        kept_bytes_ -= bytes;
        return p;
      }
      for (const auto& [size, p] : kept_) std::free(p);  // a miss: hold no more than without the cache
      kept_.clear();
      kept_bytes_ = 0;
    }
    return aligned_or_throw(bytes);
  }

  void give_back(void* p, size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    kept_.emplace(bytes, p);
    kept_bytes_ += bytes;
  }

  HostBlockStats stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    return {kept_.size(), kept_bytes_};
  }

 private:
  std::mutex mutex_;
  std::multimap<size_t, void*> kept_;
  size_t kept_bytes_ = 0;
};

// Never destroyed: tensors freed during static destruction may still return blocks.
LargeBlocks& large_blocks() {
  static LargeBlocks* blocks = new LargeBlocks;
  return *blocks;
}

}  // namespace

void* allocate_host(size_t nbytes) {
  const size_t bytes = rounded_size(nbytes);
  return bytes >= kLargeBlock ? large_blocks().take(bytes) : aligned_or_throw(bytes);
}

void release_host(void* ptr, size_t nbytes) {
  if (!ptr) return;
  const size_t bytes = rounded_size(nbytes);
  if (bytes >= kLargeBlock) large_blocks().give_back(ptr, bytes);
  else std::free(ptr);
}

HostBlockStats host_block_stats() { return large_blocks().stats(); }

}  // namespace ng::cpu
