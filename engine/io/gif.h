// Animated GIFs, for how a run's samples change over its epochs in one file
// that browsers and chat windows play. giflib writes the format (palette
// frames, LZW-compressed); this file maps pixels to palettes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace ng {

struct GifTiming {
  int frame_cs = 50;  // each frame's delay, in hundredths of a second
  int last_cs = 200;  // the last frame's, so the final samples stay a while
};

// The bytes of a looping GIF of `frames`, each [C,H,W] (C = 1 gray or 3 RGB,
// all of one shape) with values in [0, 1] mapped as save_png maps them
// (to_byte). Gray frames are exact: a shared palette of the 256 grays.
// Colour frames get a palette of at most 256 colours each from giflib's
// median-cut quantizer (GifQuantizeBuffer), so a colour can move by a few
// levels. Throws ng::Error naming the problem for no frames or mixed shapes.
std::vector<uint8_t> encode_gif(const std::vector<Tensor>& frames, GifTiming timing = {});

// encode_gif, written atomically to `path`.
void save_gif(const std::string& path, const std::vector<Tensor>& frames, GifTiming timing = {});

}  // namespace ng
