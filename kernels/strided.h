// The geometry of a strided, broadcasting pointwise launch, passed to the
// kernel by value: the output shape and every operand's strides (0 along
// broadcast dims), in elements, outermost dim first.
#pragma once

#include <cstdint>

namespace ng::kernels {

constexpr int kMaxDims = 8;

template <int N>
struct StridedGeometry {
  int ndim = 0;
  int64_t numel = 0;
  int64_t shape[kMaxDims] = {};
  int64_t strides[N][kMaxDims] = {};
  bool contiguous = false;  // every operand dense and in row-major order: a flat loop
};

}  // namespace ng::kernels
