#include "engine/dist/packed_tensors.h"

#include "engine/autograd.h"

namespace ng::dist {

PackedTensors::PackedTensors(const std::vector<Tensor>& tensors, DType dtype, Device where, bool fill) {
  NoGradGuard no_grad;
  int64_t total = 0;
  for (const Tensor& t : tensors)
    if (t.defined() && t.dtype() == dtype) {
      parts.push_back(t);
      total += t.numel();
    }
  if (parts.empty()) return;
  buffer = empty({total}, TensorOptions{}.with_dtype(dtype).with_device(where));
  int64_t at = 0;
  for (const Tensor& t : parts) {
    if (fill) buffer.narrow(0, at, t.numel()).copy_(t.reshape({-1}));
    at += t.numel();
  }
}

void PackedTensors::unpack() const {
  NoGradGuard no_grad;
  int64_t at = 0;
  for (const Tensor& t : parts) {
    Tensor target = t;  // a handle to the same storage
    target.copy_(buffer.narrow(0, at, t.numel()).reshape(t.shape()));
    at += t.numel();
  }
}

}  // namespace ng::dist
