#include "tools/epoch_strip.h"

#include <vector>

#include "engine/error.h"
#include "engine/io/gif.h"
#include "engine/io/image.h"
#include "engine/ops/shape.h"
#include "tools/report_run.h"

namespace ng::tools {

int64_t save_epoch_strip(const std::string& run, const std::string& stem, int64_t image_height, int64_t padding) {
  const std::vector<EpochImage> shown = evenly_spaced(epoch_images(run, stem), 16);
  if (shown.empty()) return 0;
  // Each grid's top band: the padding above its first row and the row; the
  // last band keeps the padding below it too, as a grid's bottom edge.
  std::vector<Tensor> bands;
  for (size_t i = 0; i < shown.size(); ++i) {
    const Tensor grid = load_image(shown[i].path);
    const int64_t height = padding + image_height + (i + 1 == shown.size() ? padding : 0);
    NG_CHECK(grid.size(1) >= height, "epoch strip: ", shown[i].path, " is ", grid.size(1), " pixels tall, less than one ",
             "row of ", image_height, "-pixel images");
    NG_CHECK(bands.empty() || grid.size(2) == bands.front().size(2), "epoch strip: ", shown[i].path, " is ",
             grid.size(2), " pixels wide, the grid of an earlier epoch ", bands.empty() ? 0 : bands.front().size(2));
    bands.push_back(grid.narrow(1, 0, height));
  }
  save_png(run + "/samples/" + stem + "_strip.png", cat(bands, 1));
  return int64_t(bands.size());
}

int64_t save_epoch_animation(const std::string& run, const std::string& stem) {
  const std::vector<EpochImage> shown = evenly_spaced(epoch_images(run, stem), 100);
  if (shown.empty()) return 0;
  std::vector<Tensor> frames;
  for (const EpochImage& e : shown) frames.push_back(load_image(e.path));
  save_gif(run + "/samples/" + stem + ".gif", frames);
  return int64_t(frames.size());
}

}  // namespace ng::tools
