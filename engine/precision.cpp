#include "engine/precision.h"

#include <atomic>

#include "engine/device.h"
#include "engine/error.h"

namespace ng {

namespace {
std::atomic<MatmulPrecision> g_matmul_precision{MatmulPrecision::fp32};
}  // namespace

void set_matmul_precision(MatmulPrecision p) { g_matmul_precision.store(p, std::memory_order_relaxed); }

MatmulPrecision matmul_precision() { return g_matmul_precision.load(std::memory_order_relaxed); }

const char* to_string(MatmulPrecision p) {
  switch (p) {
    case MatmulPrecision::fp32: return "fp32";
    case MatmulPrecision::tf32: return "tf32";
    case MatmulPrecision::bf16: return "bf16";
  }
  return "?";
}

MatmulPrecision parse_matmul_precision(const std::string& name) {
  if (name == "fp32" || name == "highest") return MatmulPrecision::fp32;
  if (name == "tf32" || name == "high") return MatmulPrecision::tf32;
  if (name == "bf16" || name == "medium") return MatmulPrecision::bf16;
  throw Error("matmul precision: unknown value '" + name +
              "' (expected fp32, tf32 or bf16, or PyTorch's highest, high or medium)");
}

MatmulPrecision resolve_precision(const std::string& name, const Device& device) {
  const int capability = device.is_cuda() ? cuda_compute_capability(device.index) : 0;
  // auto will be tf32 on sm_80+ (PyTorch's default for convolutions) once the
  // tensor-core convolutions have passed their GPU tests
  // (CudaConv.Tf32TensorCoresStayWithinTheirBound); until a GPU has run
  // them, it is the exact fp32 everywhere and tf32 is asked for by name.
  constexpr bool kAutoUsesTensorCores = false;
  if (name == "auto") return kAutoUsesTensorCores && capability >= 80 ? MatmulPrecision::tf32 : MatmulPrecision::fp32;
  MatmulPrecision p = MatmulPrecision::fp32;
  try {
    p = parse_matmul_precision(name);
  } catch (const Error&) {
    throw Error("--precision: '" + name +
                "' is not known; expected auto, fp32, tf32 or bf16 (or PyTorch's highest, high or medium)");
  }
  if (p == MatmulPrecision::fp32) return p;
  NG_CHECK(device.is_cuda(), "--precision ", name, ": tensor-core math needs a CUDA device, and this run is on ",
           device.str(), ", where matmul and convolutions always compute in fp32; use --precision fp32 (or auto)");
  NG_CHECK(capability >= 80, "--precision ", name, ": tensor-core tf32/bf16 math needs compute capability 8.0 ",
           "(Ampere) or newer, and ", device.str(), " has ", capability / 10, ".", capability % 10,
           "; use --precision fp32 (or auto)");
  return p;
}

}  // namespace ng
