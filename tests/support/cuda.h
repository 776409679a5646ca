// For tests of the CUDA backend: skip, with the reason, where no GPU is
// visible (CI has none), and compare a GPU result with its CPU twin.
#pragma once

#include <gtest/gtest.h>

#include <cmath>

#include "engine/nanogen.h"

#define NG_REQUIRE_GPU()                                                                                   \
  do {                                                                                                     \
    if (!::ng::cuda_available())                                                                           \
      GTEST_SKIP() << "no GPU is visible (or this build has no CUDA backend); this test compares a CUDA " \
                      "kernel with its CPU twin";                                                          \
  } while (0)

namespace ng::test {

inline Device gpu() { return Device::cuda(0); }

// A CUDA tensor of the given shape filled with NaN, so that any element a
// kernel fails to write is caught by the comparison.
inline Tensor poisoned(const Shape& shape, DType dtype = DType::f32) {
  return full(shape, std::nan(""), TensorOptions{}.with_dtype(dtype).with_device(gpu()));
}

}  // namespace ng::test
