// A run's pictures besides its sample grids: the loss curves as PNGs
// (tools/run_charts.h: the series the registry's charts take from
// metrics.csv, the file names, the pictures) and the strip of the epochs
// (tools/epoch_strip.h).
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <filesystem>
#include <string>

#include "engine/io/image.h"
#include "support/temp_dir.h"
#include "tools/epoch_strip.h"
#include "tools/run_charts.h"
#include "tools/run_folder.h"

using namespace ng;
using namespace ng::tools;

namespace {
// "#4c78a8" -> {0x4c, 0x78, 0xa8} / 255.
std::array<float, 3> rgb(const std::string& hex) {
  std::array<float, 3> c{};
  for (int k = 0; k < 3; ++k) c[size_t(k)] = float(std::stoi(hex.substr(size_t(1 + 2 * k), 2), nullptr, 16)) / 255.0f;
  return c;
}
}  // namespace

TEST(RunCharts, FileStemsAreLowerCaseAsciiWords) {
  EXPECT_EQ(chart_file_stem("Losses per step"), "losses_per_step");
  EXPECT_EQ(chart_file_stem("\u2212ELBO per epoch"), "elbo_per_epoch");
  EXPECT_EQ(chart_file_stem("L_simple per step"), "l_simple_per_step");
  EXPECT_EQ(chart_file_stem("\u03b5"), "chart");
}

TEST(RunCharts, SeriesComeFromTheRowsOfTheChartsKind) {
  test::TempDir dir;
  const std::string run = (dir.path() / "run").string();
  {
    RunFolder folder(run, false);
    folder.declare_metrics({"epoch", "step", "loss", "recon", "kl", "train_loss", "test_loss"});
    folder.metrics({{"epoch", 1}, {"step", 10}, {"loss", 300}, {"recon", 290}, {"kl", 10}}, "step");
    folder.metrics({{"epoch", 1}, {"step", 20}, {"loss", 250}, {"recon", 238}, {"kl", 12}}, "step");
    folder.metrics({{"epoch", 1}, {"step", 20}, {"train_loss", 270}, {"test_loss", 260}}, "epoch");
  }
  const MetricsTable table = read_metrics_csv(run + "/metrics.csv");
  const ChartSpec& per_step = find_model("vae")->charts.at(0);
  const std::vector<ChartSeries> series = chart_series(table, per_step);
  ASSERT_EQ(series.size(), 3u);
  EXPECT_EQ(series[0].name, "loss");
  EXPECT_EQ(series[0].x, (std::vector<double>{10, 20}));
  EXPECT_EQ(series[0].y, (std::vector<double>{300, 250}));
  EXPECT_EQ(series[2].y, (std::vector<double>{10, 12}));

  const std::vector<std::string> files = save_run_charts(run, "vae");
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0], run + "/curves/training_loss_per_step.png");
  EXPECT_EQ(files[1], run + "/curves/elbo_per_epoch.png");
  for (const std::string& f : files) {
    const Tensor image = load_image(f, 3);
    EXPECT_EQ(image.shape(), (Shape{3, 400, 640})) << f;
    // The first series' colour is drawn somewhere.
    const std::array<float, 3> colour = rgb(series_colour(0));
    const std::vector<float> px = image.to_vector<float>();
    const int64_t plane = 400 * 640;
    bool found = false;
    for (int64_t i = 0; i < plane && !found; ++i)
      found = std::abs(px[size_t(i)] - colour[0]) < 1.5f / 255 && std::abs(px[size_t(plane + i)] - colour[1]) < 1.5f / 255 &&
              std::abs(px[size_t(2 * plane + i)] - colour[2]) < 1.5f / 255;
    EXPECT_TRUE(found) << f << " has no pixel of the first series' colour";
  }
  EXPECT_TRUE(save_run_charts(run, "no-such-model").empty());
}

// The strip of the epochs: each grid's first row, one under another, from
// at most 16 epochs, the first and the last among them.
TEST(EpochStrip, TheFirstRowOfEachEpochsGridOneUnderAnother) {
  test::TempDir dir;
  const std::string run = (dir.path() / "run").string();
  std::filesystem::create_directories(run + "/samples");
  EXPECT_EQ(save_epoch_strip(run, "epoch", 4), 0);  // no grids yet: nothing written
  EXPECT_FALSE(std::filesystem::exists(run + "/samples/epoch_strip.png"));
  auto grid_of = [](int64_t epoch) {  // 16 images of 4x4 pixels, each of value epoch / 40 + image / 1000
    std::vector<float> v;
    for (int64_t n = 0; n < 16; ++n)
      for (int64_t i = 0; i < 16; ++i) v.push_back(float(epoch) / 40 + float(n) / 1000);
    return from_vector(v, {16, 1, 4, 4});
  };
  for (int64_t epoch = 1; epoch <= 20; ++epoch) {
    char name[32];
    std::snprintf(name, sizeof name, "/samples/epoch_%03lld.png", (long long)epoch);
    save_image_grid(run + name, grid_of(epoch), 8);
  }
  EXPECT_EQ(save_epoch_strip(run, "epoch", 4), 16);
  const Tensor strip = load_image(run + "/samples/epoch_strip.png");
  ASSERT_EQ(strip.shape(), (Shape{1, 16 * (2 + 4) + 2, 8 * 6 + 2}));
  // Band k's first image is at rows 6k + 2.. and columns 2..5; the first band
  // is epoch 1, the last epoch 20, and the epochs rise in between.
  double previous = -1;
  for (int64_t k = 0; k < 16; ++k) {
    const double value = strip.select(0, 0).select(0, 6 * k + 2).select(0, 2).item();
    EXPECT_GT(value, previous) << "band " << k;
    previous = value;
  }
  EXPECT_NEAR(strip.select(0, 0).select(0, 2).select(0, 2).item(), 1.0 / 40, 0.6 / 255);
  EXPECT_NEAR(strip.select(0, 0).select(0, 6 * 15 + 2).select(0, 2).item(), 20.0 / 40, 0.6 / 255);
  // The second image of band 0 (columns 8..11) is the grid's second image.
  EXPECT_NEAR(strip.select(0, 0).select(0, 2).select(0, 8).item(), 1.0 / 40 + 1.0 / 1000, 0.6 / 255);
}
