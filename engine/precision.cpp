#include "engine/precision.h"

#include <atomic>

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

}  // namespace ng
