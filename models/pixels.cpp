#include "models/pixels.h"

#include "engine/nanogen.h"

namespace ng::models {

Tensor signed_to_unit_pixels(const Tensor& x) { return clamp((x + 1.0) * 0.5, 0.0, 1.0); }

}  // namespace ng::models
