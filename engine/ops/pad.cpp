#include "engine/ops/pad.h"

#include "engine/error.h"
#include "engine/ops/shape.h"

namespace ng {

PadMode parse_pad_mode(const std::string& name) {
  if (name == "constant") return PadMode::constant;
  if (name == "reflect") return PadMode::reflect;
  if (name == "replicate") return PadMode::replicate;
  throw Error("pad: mode '" + name + "' is not known; expected constant, reflect or replicate");
}

namespace {

// `count` elements to put before (or after) x along dim d.
Tensor border(const Tensor& x, int64_t d, int64_t count, bool before, PadMode mode, double value) {
  const int64_t size = x.size(d);
  Shape shape = x.shape();
  shape[size_t(d)] = count;
  switch (mode) {
    case PadMode::constant: return full(shape, value, x.options());
    case PadMode::replicate: return x.narrow(d, before ? 0 : size - 1, 1).expand(shape);
    case PadMode::reflect: {
      // Before: elements count, count-1, ..., 1; after: size-2, ..., size-1-count.
      std::vector<Tensor> slices;
      for (int64_t k = 0; k < count; ++k) slices.push_back(x.narrow(d, before ? count - k : size - 2 - k, 1));
      return cat(slices, d);
    }
  }
  return {};
}

}  // namespace

Tensor pad(const Tensor& x, const std::vector<int64_t>& padding, PadMode mode, double value) {
  NG_CHECK(padding.size() % 2 == 0, "pad: padding needs (before, after) pairs, got ", padding.size(), " numbers");
  const int64_t dims = int64_t(padding.size()) / 2;
  NG_CHECK(dims <= x.dim(), "pad: ", dims, " pairs of padding for a ", x.dim(), "-d input ", shape_str(x.shape()));
  NG_CHECK(mode == PadMode::constant || value == 0.0, "pad: a value applies to constant padding only");
  Tensor out = x;
  for (int64_t j = 0; j < dims; ++j) {
    const int64_t d = x.dim() - 1 - j, before = padding[size_t(2 * j)], after = padding[size_t(2 * j + 1)];
    NG_CHECK(before >= 0 && after >= 0, "pad: amounts must be >= 0, got (", before, ", ", after, ") for dim ", d);
    if (before == 0 && after == 0) continue;
    const int64_t size = x.size(d);
    NG_CHECK(mode != PadMode::reflect || (before < size && after < size), "pad: reflect padding (", before, ", ",
             after, ") of dim ", d, " must be smaller than its size ", size, " of ", shape_str(x.shape()));
    NG_CHECK(mode == PadMode::constant || size > 0, "pad: dim ", d, " of ", shape_str(x.shape()),
             " is empty; only constant padding can fill it");
    std::vector<Tensor> parts;
    if (before > 0) parts.push_back(border(out, d, before, true, mode, value));
    parts.push_back(out);
    if (after > 0) parts.push_back(border(out, d, after, false, mode, value));
    out = cat(parts, d);
  }
  return out;
}

}  // namespace ng
