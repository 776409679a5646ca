// How much precision float32 matrix products may trade for speed on the GPU:
// nanogen's counterpart of torch.backends.cuda.matmul.allow_tf32 and
// torch.set_float32_matmul_precision("highest" | "high" | "medium").
//
//   fp32  (default) exact fp32 products on CUDA cores: the same function as
//         the CPU's GEMM, to fp32 rounding ("highest");
//   tf32  tensor cores, inputs rounded to tf32 (10 mantissa bits, relative
//         error 2^-11 an input), fp32 accumulation ("high");
//   bf16  tensor cores, inputs rounded to bf16 (7 mantissa bits, 2^-8 an
//         input), fp32 accumulation ("medium").
//
// The default is exact so that nothing changes numerically behind a user's
// back; training usually loses nothing with tf32. The setting is process-wide
// and read when a GEMM or a convolution is launched. It applies to float32
// matmul / bmm / linear and conv2d on CUDA devices; float64 and the CPU
// always compute exactly.
#pragma once

#include <string>

#include "engine/device.h"

namespace ng {

enum class MatmulPrecision { fp32, tf32, bf16 };

void set_matmul_precision(MatmulPrecision p);
MatmulPrecision matmul_precision();

// "fp32", "tf32", "bf16".
const char* to_string(MatmulPrecision p);
// Parses those names and PyTorch's "highest", "high", "medium"; throws
// ng::Error naming the accepted values otherwise.
MatmulPrecision parse_matmul_precision(const std::string& name);

// The precision a run on `device` uses for `name` ("auto", or a name above),
// checked before any work starts: "auto" is fp32 (it becomes tf32 on sm_80+,
// PyTorch's default for convolutions, once the tensor-core convolutions have
// run on a GPU: see precision.cpp); tf32 and bf16 need a GPU of compute
// capability 8.0 or newer, and are refused on the CPU (its GEMMs always
// compute in fp32) and on older GPUs, with an error that says so. Under tf32
// and bf16 the float32 convolutions (forward and both gradients) run on tf32
// tensor cores (engine/cuda/conv.cpp).
MatmulPrecision resolve_precision(const std::string& name, const Device& device);

// Sets a precision for a scope and restores the previous one on exit.
class MatmulPrecisionGuard {
 public:
  explicit MatmulPrecisionGuard(MatmulPrecision p) : previous_(matmul_precision()) { set_matmul_precision(p); }
  ~MatmulPrecisionGuard() { set_matmul_precision(previous_); }
  MatmulPrecisionGuard(const MatmulPrecisionGuard&) = delete;
  MatmulPrecisionGuard& operator=(const MatmulPrecisionGuard&) = delete;

 private:
  MatmulPrecision previous_;
};

}  // namespace ng
