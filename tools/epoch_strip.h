// How a run's samples changed while it trained, in one picture: the first
// row of each epoch's grid (the same noise every epoch), epoch 1 at the top,
// as RUN/samples/<stem>_strip.png. At most 16 rows: a long run shows
// its first and last epochs and evenly spaced ones between. And as a film:
// the whole grids, one frame an epoch, as RUN/samples/<stem>.gif.
#pragma once

#include <cstdint>
#include <string>

namespace ng::tools {

// From RUN/samples/<stem>_NNN.png, grids of images `image_height` pixels
// tall with `padding` pixels around each (make_image_grid's layout). Writes
// nothing when there is no such grid. Returns the number of rows.
int64_t save_epoch_strip(const std::string& run, const std::string& stem, int64_t image_height, int64_t padding = 2);

// RUN/samples/<stem>.gif, a looping animation of the grids
// RUN/samples/<stem>_NNN.png: at most 100 frames (the first, the last and
// evenly spaced ones between), half a second each, the last held for two.
// Writes nothing when there is no grid. Returns the number of frames.
int64_t save_epoch_animation(const std::string& run, const std::string& stem);

}  // namespace ng::tools
