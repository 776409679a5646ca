// Device copies of multi-tensor launch arguments, uploaded once.
//
// A multi-tensor launch (kernels/multi_tensor.h: Adam, the EMA, gradient
// clipping) reads its tensor list and chunk map from device memory. A
// training step passes the same list every step: parameters and optimizer
// slots never move, and gradients land at the same addresses once the
// caching allocator has settled into the step's pattern. So the bytes are
// compared with those already on the device and uploaded only when they are
// new. Plain C++ with the device buffer as a template parameter, so that the
// bookkeeping is tested on the CPU (tests/cpu/test_argument_cache.cpp).
//
// A cached buffer is never written again: a kernel queued earlier may still
// be reading it. Evicting one releases it to the stream-ordered allocator,
// which hands it out only to work queued after those kernels.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <list>
#include <vector>

namespace ng::cuda {

template <class Buffer>
class ArgumentCache {
 public:
  explicit ArgumentCache(size_t capacity = 16) : capacity_(capacity) {}

  // The device copy of `bytes` for `device`: a cached one holding exactly
  // these bytes, else upload(bytes), kept (the least recently used entry
  // makes room). Alternating lists (a GAN's two optimizers) both stay cached.
  template <class Upload>
  const Buffer& get(int device, const std::vector<unsigned char>& bytes, const Upload& upload) {
    for (auto it = entries_.begin(); it != entries_.end(); ++it)
      if (it->device == device && it->bytes.size() == bytes.size() &&
          std::memcmp(it->bytes.data(), bytes.data(), bytes.size()) == 0) {
        entries_.splice(entries_.begin(), entries_, it);  // most recently used first
        return entries_.front().buffer;
      }
    ++uploads_;
    entries_.push_front(Entry{device, bytes, upload(bytes)});
    if (entries_.size() > capacity_) entries_.pop_back();
    return entries_.front().buffer;
  }

  int64_t uploads() const { return uploads_; }  // misses so far
  size_t size() const { return entries_.size(); }
  void clear() { entries_.clear(); }

 private:
  struct Entry {
    int device;
    std::vector<unsigned char> bytes;
    Buffer buffer;
  };
  size_t capacity_;
  std::list<Entry> entries_;
  int64_t uploads_ = 0;
};

}  // namespace ng::cuda
