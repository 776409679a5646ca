// Raw memory on a device: allocation, copies and fills that Storage and
// Tensor::copy_ build on. The CPU path is here; the CUDA path (a caching
// allocator and cudaMemcpy) lives in engine/cuda/ when the backend is built.
#pragma once

#include <cstddef>
#include <initializer_list>

#include "engine/device.h"
#include "engine/tensor.h"

namespace ng {

void* device_alloc(Device device, size_t nbytes);
void device_free(Device device, void* ptr, size_t nbytes);

// dst <- src where at least one of them is not on the CPU. Same shapes.
void device_copy(const Tensor& dst, const Tensor& src);
// Fills a tensor that is not on the CPU.
void device_fill(const Tensor& dst, double value);

// Throws a clear error for a CUDA tensor in a build or on a machine without
// CUDA; `what` names the op.
void require_cuda(const char* what);

// The one error path out of the CUDA backend: runs `call` and turns any
// failure of a launch, a library or an allocation (kernels/ throws standard
// exceptions, being below the engine) into an ng::Error naming the op and
// the shapes, dtypes and devices of `tensors`. An ng::Error passes unchanged.
[[noreturn]] void rethrow_as_error(const char* op, std::initializer_list<Tensor> tensors);
template <class F>
void run_on_cuda(const char* op, std::initializer_list<Tensor> tensors, F&& call) {
  try {
    call();
  } catch (...) {
    rethrow_as_error(op, tensors);
  }
}

}  // namespace ng
