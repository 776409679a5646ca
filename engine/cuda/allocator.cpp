#include "engine/cuda/allocator.h"

#include <algorithm>
#include <map>
#include <stdexcept>
#include <string>
#include <tuple>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "engine/error.h"
#include "kernels/cuda_check.h"

namespace ng::cuda {

namespace {

struct Block {
  size_t size;
  int device;
  cudaStream_t stream;
};

struct Pool {
  // (device, stream, size) -> free blocks of exactly that rounded size
  std::map<std::tuple<int, cudaStream_t, size_t>, std::vector<void*>> free;
  std::unordered_map<void*, Block> live;
  std::map<int, AllocatorStats> stats;
  std::mutex mutex;
};

Pool& pool() {
  static Pool* p = new Pool;  // never destroyed: frees may come from static tensors at exit
  return *p;
}

}  // namespace

size_t round_size(size_t n) {
  constexpr size_t kSmall = 512, kLarge = size_t(2) << 20, kSmallLimit = size_t(1) << 20;
  if (n == 0) n = 1;
  if (n < kSmallLimit) return (n + kSmall - 1) / kSmall * kSmall;
  return (n + kLarge - 1) / kLarge * kLarge;
}

void* allocate(size_t nbytes, int device, cudaStream_t stream) {
  Pool& p = pool();
  const size_t size = round_size(nbytes);
  std::lock_guard<std::mutex> lock(p.mutex);
  AllocatorStats& st = p.stats[device];
  void* ptr = nullptr;
  auto it = p.free.find({device, stream, size});
  if (it != p.free.end() && !it->second.empty()) {
    ptr = it->second.back();
    it->second.pop_back();
    st.cached -= size;
  } else {
    NG_CUDA_CHECK(cudaSetDevice(device));
    cudaError_t err = cudaMalloc(&ptr, size);
    if (err == cudaErrorMemoryAllocation) {
      // Out of memory: give the cache back to the driver and try once more.
      cudaGetLastError();
      for (auto& [key, blocks] : p.free)
        for (void* b : blocks) NG_CUDA_CHECK(cudaFree(b));
      p.free.clear();
      for (auto& [d, s] : p.stats) s.cached = 0;
      err = cudaMalloc(&ptr, size);
    }
    if (err != cudaSuccess)
      throw Error("CUDA out of memory allocating " + std::to_string(nbytes) + " bytes on cuda:" +
                               std::to_string(device) + " (" + std::to_string(st.in_use) + " bytes in use)");
    ++st.device_allocs;
  }
  p.live[ptr] = {size, device, stream};
  st.in_use += size;
  st.peak_in_use = std::max(st.peak_in_use, st.in_use);
  return ptr;
}

void release(void* ptr) {
  if (!ptr) return;
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  auto it = p.live.find(ptr);
  if (it == p.live.end()) return;
  const Block b = it->second;
  p.live.erase(it);
  p.free[{b.device, b.stream, b.size}].push_back(ptr);
  AllocatorStats& st = p.stats[b.device];
  st.in_use -= b.size;
  st.cached += b.size;
}

AllocatorStats allocator_stats(int device) {
  std::lock_guard<std::mutex> lock(pool().mutex);
  return pool().stats[device];
}

void reset_peak(int device) {
  std::lock_guard<std::mutex> lock(pool().mutex);
  AllocatorStats& st = pool().stats[device];
  st.peak_in_use = st.in_use;
}

void empty_cache() {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  for (auto& [key, blocks] : p.free)
    for (void* b : blocks) NG_CUDA_CHECK(cudaFree(b));
  p.free.clear();
  for (auto& [d, s] : p.stats) s.cached = 0;
}

}  // namespace ng::cuda
