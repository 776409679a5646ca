// Device and dtype: the two tags every tensor carries.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace ng {

enum class DType : uint8_t { f32, f64 };

inline size_t dtype_size(DType t) { return t == DType::f32 ? 4 : 8; }
inline const char* dtype_name(DType t) { return t == DType::f32 ? "float32" : "float64"; }

struct Device {
  enum class Kind : uint8_t { cpu, cuda };
  Kind kind = Kind::cpu;
  int index = 0;

  static Device cpu() { return {Kind::cpu, 0}; }
  static Device cuda(int i = 0) { return {Kind::cuda, i}; }
  bool is_cpu() const { return kind == Kind::cpu; }
  bool is_cuda() const { return kind == Kind::cuda; }
  bool operator==(const Device&) const = default;

  // "cpu", "cuda:0"
  std::string str() const;
  // Accepts "cpu", "cuda", "cuda:N"; throws on anything else.
  static Device parse(const std::string& s);
};

// True when this build has the CUDA backend and a GPU is visible.
bool cuda_available();
int cuda_device_count();
// The compute capability of a visible GPU as 10 * major + minor (90 for an
// H100); 0 without a CUDA backend.
int cuda_compute_capability(int device);

}  // namespace ng
