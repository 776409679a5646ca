// The tensors of one dtype, copied into one contiguous buffer so that they
// travel as one message, whatever their number, shapes and strides; and
// copied back when the collective is done. Used by the MPI and NCCL backends.
#pragma once

#include <vector>

#include "engine/tensor.h"

namespace ng::dist {

struct PackedTensors {
  std::vector<Tensor> parts;  // handles to the caller's tensors
  Tensor buffer;              // 1-d, their numbers one after another

  // Packs the defined tensors of `dtype` among `tensors` (their values when
  // `fill`) into a buffer on `where`; leaves both empty when there are none.
  PackedTensors(const std::vector<Tensor>& tensors, DType dtype, Device where, bool fill);
  bool none() const { return parts.empty(); }
  int64_t count() const { return none() ? 0 : buffer.numel(); }
  // Copies the buffer back into the tensors.
  void unpack() const;
};

}  // namespace ng::dist
