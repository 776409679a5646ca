#include "engine/cuda/staging.h"

#include <cstring>
#include <mutex>
#include <vector>

#include "kernels/cuda_check.h"

namespace ng::cuda {

namespace {

// A pinned buffer and the event recorded after the copy that last read it.
struct Slot {
  void* host = nullptr;
  size_t capacity = 0;
  int device = -1;
  cudaEvent_t copied = nullptr;  // created on `device`
  bool in_flight = false;
};

// Few slots live at once: a training step uploads a handful of small arrays
// and the GPU is at most a step or two behind. Past the cap the host waits
// for the oldest copy rather than pin more memory.
constexpr size_t kMaxSlots = 64;
constexpr size_t kMinCapacity = size_t(64) << 10;

size_t capacity_for(size_t bytes) {
  size_t c = kMinCapacity;
  while (c < bytes) c *= 2;
  return c;
}

class Staging {
 public:
  Staging() { slots_.reserve(kMaxSlots); }  // so that a Slot& stays valid while its upload is queued

  void upload(void* dst, const void* src, size_t bytes, int device, cudaStream_t stream) {
    std::lock_guard<std::mutex> lock(mutex_);
    Slot& s = free_slot(bytes, device);
    std::memcpy(s.host, src, bytes);
    NG_CUDA_CHECK(cudaMemcpyAsync(dst, s.host, bytes, cudaMemcpyHostToDevice, stream));
    const cudaError_t recorded = cudaEventRecord(s.copied, stream);
    if (recorded != cudaSuccess) {
      // The copy is queued but nothing marks when it has read the buffer:
      // wait for it here rather than hand the slot out while it may be read.
      cudaStreamSynchronize(stream);
      NG_CUDA_CHECK(recorded);
    }
    s.in_flight = true;
    next_ = (size_t(&s - slots_.data()) + 1) % kMaxSlots;
  }

 private:
  bool done(Slot& s) {
    if (!s.in_flight) return true;
    const cudaError_t e = cudaEventQuery(s.copied);
    if (e == cudaErrorNotReady) return false;
    NG_CUDA_CHECK(e);
    s.in_flight = false;
    return true;
  }

  // A slot of this device, large enough and no longer read by a queued copy:
  // an existing one, a new one while under the cap, or else the next in turn
  // once its copy has run (waiting for it, the one case that blocks).
  Slot& free_slot(size_t bytes, int device) {
    for (Slot& s : slots_)
      if (s.device == device && s.capacity >= bytes && done(s)) return s;
    if (slots_.size() < kMaxSlots) return make(slots_.emplace_back(), bytes, device);
    Slot& s = slots_[next_];
    if (s.in_flight) NG_CUDA_CHECK(cudaEventSynchronize(s.copied));
    s.in_flight = false;
    if (s.device == device && s.capacity >= bytes) return s;
    destroy(s);
    return make(s, bytes, device);
  }

  // Fills an empty slot. The slot is described only once its buffer and
  // event both exist: a failure leaves it empty (capacity 0, never chosen)
  // and the current device as it was.
  static Slot& make(Slot& s, size_t bytes, int device) {
    int current = 0;
    NG_CUDA_CHECK(cudaGetDevice(&current));
    NG_CUDA_CHECK(cudaSetDevice(device));
    const size_t capacity = capacity_for(bytes);
    void* host = nullptr;
    cudaEvent_t copied = nullptr;
    cudaError_t e = cudaMallocHost(&host, capacity);
    if (e == cudaSuccess) e = cudaEventCreateWithFlags(&copied, cudaEventDisableTiming);
    cudaSetDevice(current);
    if (e != cudaSuccess) {
      if (host) cudaFreeHost(host);
      NG_CUDA_CHECK(e);
    }
    s.host = host, s.copied = copied, s.capacity = capacity, s.device = device;
    return s;
  }

  static void destroy(Slot& s) {
    if (s.copied) cudaEventDestroy(s.copied);
    if (s.host) cudaFreeHost(s.host);
    s = Slot{};
  }

  std::mutex mutex_;
  std::vector<Slot> slots_;
  size_t next_ = 0;
};

// Never destroyed: pinned memory and events are released with the process
// (destroying them from a static destructor can run after the CUDA runtime
// has shut down).
Staging& staging() {
  static Staging* s = new Staging;
  return *s;
}

}  // namespace

void upload_async(void* dst, const void* src, size_t bytes, int device, cudaStream_t stream) {
  if (bytes == 0) return;
  if (bytes > kMaxStagedUpload) {
    NG_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream));
    NG_CUDA_CHECK(cudaStreamSynchronize(stream));  // the caller's buffer must outlive the copy
    return;
  }
  staging().upload(dst, src, bytes, device, stream);
}

}  // namespace ng::cuda
