// safetensors checkpoints (https://github.com/huggingface/safetensors), the
// format PyTorch, JAX and nanogen all read, so a state dict moves between
// nanogen and PyTorch both ways.
//
// Layout of a file:
//   8 bytes    N, the header length, a little-endian uint64
//   N bytes    JSON: {"name": {"dtype": "F32", "shape": [2,3],
//                               "data_offsets": [begin, end]}, ...,
//                     "__metadata__": {"key": "value", ...}}
//              padded with spaces to a multiple of 8 (so data is aligned)
//   the rest   the tensors' bytes, row-major little-endian, back to back;
//              data_offsets count from the start of this section.
#pragma once

#include <concepts>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace ng {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;
using Metadata = std::map<std::string, std::string>;

struct SafetensorsContent {
  NamedTensors tensors;  // in the order of their data in the file
  Metadata metadata;

  // nullptr when there is no tensor of that name.
  const Tensor* find(const std::string& name) const;
  // Throws ng::Error naming the missing tensor.
  const Tensor& at(const std::string& name) const;
};

// Writes float32/float64 tensors (any device, any strides: they are copied to
// the CPU and laid out row-major) in the given order. Names must be unique
// and non-empty. The write is atomic (engine/io/atomic_file.h).
void save_safetensors(const std::string& path, const NamedTensors& tensors, const Metadata& metadata = {});
// Any map from name to Tensor (a std::map writes in name order). A template so
// that a braced list, save_safetensors(p, {{"w", w}}), picks the overload above.
template <class Map>
  requires std::same_as<typename Map::mapped_type, Tensor>
void save_safetensors(const std::string& path, const Map& tensors, const Metadata& metadata = {}) {
  save_safetensors(path, NamedTensors(tensors.begin(), tensors.end()), metadata);
}

// Reads every tensor onto the CPU. F32 and F64 load as they are; F16 and BF16
// are widened to float32; I64 (PyTorch's num_batches_tracked) is converted to
// float32, exact up to 2^24. Everything is validated, and errors name the file
// and the problem (truncated file, bad header length, invalid JSON, offsets
// out of range / overlapping / with gaps / not matching the shape, unknown
// or unsupported dtype, ...).
SafetensorsContent load_safetensors(const std::string& path);

// ---- checking a loaded set against what a model expects ---------------------

struct TensorSpec {
  std::string name;
  Shape shape;
  DType dtype = DType::f32;
};

struct TensorSetDiff {
  std::vector<std::string> missing;     // expected but absent
  std::vector<std::string> unexpected;  // present but not expected
  std::vector<std::string> mismatched;  // "name: shape [2,3] float32, expected [3,2] float32"
  bool ok() const { return missing.empty() && unexpected.empty() && mismatched.empty(); }
  // All problems, one per line after a summary line; empty when ok().
  std::string message() const;
};

TensorSetDiff diff_tensor_set(const NamedTensors& loaded, const std::vector<TensorSpec>& expected);

// Throws one ng::Error listing every missing, unexpected and mismatched entry,
// prefixed by `what` (e.g. "load_state_dict(runs/vae/checkpoints/last.safetensors)").
// With allow_missing / allow_unexpected those kinds are not errors
// (PyTorch's strict=False); shape and dtype mismatches always are.
void check_tensor_set(const NamedTensors& loaded, const std::vector<TensorSpec>& expected,
                      const std::string& what, bool allow_missing = false, bool allow_unexpected = false);

}  // namespace ng
