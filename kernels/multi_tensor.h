// Multi-tensor launches: ONE launch that updates every tensor of a list (the
// optimizer's parameters, the EMA's averages). A model has dozens of tensors,
// many small (biases, norm scales): a launch each would cost more in launch
// gaps than in memory traffic.
//
// The tensors are cut into chunks of kMultiTensorChunk elements; block b of
// the grid handles chunk chunks[b] = (tensor, index), elements
// [index * kMultiTensorChunk, min((index + 1) * kMultiTensorChunk, n)) of
// tensors[tensor], its threads striding through the chunk four elements at a
// time. The kernel reads both arrays from device memory: they are packed here
// as host bytes, and the engine uploads them (engine/cuda/staging.h) into a
// buffer that stays allocated until the launch has run.
//
// Host code, usable without a GPU (tests check the map and the packing).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace ng::kernels {

constexpr int kMultiTensorThreads = 256;
constexpr int64_t kMultiTensorChunk = 4 * 4 * kMultiTensorThreads;  // four 4-element groups a thread

struct TensorChunk {
  int32_t tensor;
  int32_t index;
};

// The chunks of tensors of these sizes, in order; an empty tensor gets none.
inline std::vector<TensorChunk> chunk_map(const std::vector<int64_t>& sizes) {
  if (sizes.size() > size_t(INT32_MAX)) throw std::invalid_argument("chunk_map: too many tensors");
  std::vector<TensorChunk> chunks;
  for (size_t k = 0; k < sizes.size(); ++k) {
    const int64_t n_chunks = (sizes[k] + kMultiTensorChunk - 1) / kMultiTensorChunk;
    if (n_chunks > INT32_MAX)
      throw std::invalid_argument("chunk_map: a tensor of " + std::to_string(sizes[k]) + " elements is too big");
    for (int64_t c = 0; c < n_chunks; ++c) chunks.push_back({int32_t(k), int32_t(c)});
  }
  if (chunks.size() > size_t(INT32_MAX)) throw std::invalid_argument("chunk_map: too many chunks");
  return chunks;
}

// A launch's arguments as bytes for device memory: the tensor descriptions
// (any struct with a member n, the element count), then, 16-byte aligned at
// chunks_offset, the chunk map.
struct MultiTensorArguments {
  std::vector<unsigned char> bytes;
  int32_t chunks = 0;
  size_t chunks_offset = 0;
};

template <class TensorT>
MultiTensorArguments multi_tensor_arguments(const std::vector<TensorT>& tensors) {
  std::vector<int64_t> sizes;
  sizes.reserve(tensors.size());
  for (const TensorT& t : tensors) sizes.push_back(t.n);
  const std::vector<TensorChunk> chunks = chunk_map(sizes);
  MultiTensorArguments a;
  a.chunks = int32_t(chunks.size());
  a.chunks_offset = (tensors.size() * sizeof(TensorT) + 15) / 16 * 16;
  a.bytes.resize(a.chunks_offset + chunks.size() * sizeof(TensorChunk));
  if (!tensors.empty()) std::memcpy(a.bytes.data(), tensors.data(), tensors.size() * sizeof(TensorT));
  if (!chunks.empty())
    std::memcpy(a.bytes.data() + a.chunks_offset, chunks.data(), chunks.size() * sizeof(TensorChunk));
  return a;
}

}  // namespace ng::kernels
