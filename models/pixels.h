// The GAN's generator (tanh) and the DDPM (its data scaled to [-1,1]) make
// images in [-1,1]; pictures, metrics and data sets hold pixels in [0,1].
#pragma once

#include "engine/tensor.h"

namespace ng::models {

// x in [-1,1] -> (x + 1) / 2, clamped to [0,1] (samples may overshoot).
Tensor signed_to_unit_pixels(const Tensor& x);

}  // namespace ng::models
