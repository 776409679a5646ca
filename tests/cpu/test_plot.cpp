// `nanogen plot` (tools/plot.h): the lines it draws from run folders and CSV
// files, their names, and the errors for what cannot be drawn.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "engine/io/image.h"
#include "support/gradcheck.h"
#include "support/temp_dir.h"
#include "tools/plot.h"

using namespace ng;
using namespace ng::tools;

namespace {
std::string write(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path) << text;
  return path.string();
}
}  // namespace

TEST(Plot, ALinePerSourceAndColumnFromTheRowsOfTheKind) {
  test::TempDir dir;
  const std::filesystem::path hinge = dir.path() / "gan-hinge", minimax = dir.path() / "gan-minimax";
  write(hinge / "metrics.csv", "kind,epoch,step,d_real,d_fake\nstep,1,50,0.9,0.1\nstep,1,100,0.8,0.3\n"
                               "epoch,1,100,0.85,\n");
  write(minimax / "metrics.csv", "kind,epoch,step,d_real,d_fake\nstep,1,50,0.7,\nstep,1,100,0.6,0.4\n");
  PlotOptions o;
  o.y = {"d_fake"};
  std::vector<ChartSeries> s = plot_series({hinge.string(), minimax.string() + "/"}, o);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].name, "gan-hinge");
  EXPECT_EQ(s[0].x, (std::vector<double>{50, 100}));
  EXPECT_EQ(s[0].y, (std::vector<double>{0.1, 0.3}));
  EXPECT_EQ(s[1].name, "gan-minimax");  // the row without d_fake is left out
  EXPECT_EQ(s[1].x, (std::vector<double>{100}));
  EXPECT_EQ(s[1].y, (std::vector<double>{0.4}));

  o.y = {"d_real", "d_fake"};
  o.kind = "epoch";
  o.labels = {"hinge", "minimax"};
  s = plot_series({hinge.string(), minimax.string()}, o);
  ASSERT_EQ(s.size(), 4u);
  EXPECT_EQ(s[0].name, "hinge d_real");
  EXPECT_EQ(s[0].y, (std::vector<double>{0.85}));
  EXPECT_EQ(s[1].name, "hinge d_fake");
  EXPECT_TRUE(s[1].y.empty());
  EXPECT_TRUE(s[2].y.empty());  // minimax has no epoch rows

  const std::string out = (dir.path() / "d.png").string();
  o.width = 320;
  o.height = 200;
  save_plot({hinge.string(), minimax.string()}, o, out);
  EXPECT_EQ(load_image(out, 3).shape(), (Shape{3, 200, 320}));
}

TEST(Plot, ACsvFileIsASourceNamedByItsStem) {
  test::TempDir dir;
  const std::string csv = write(dir.path() / "ddim_fid.csv", "kind,steps,fid\npoint,10,80\npoint,50,40\n");
  PlotOptions o;
  o.y = {"fid"};
  o.x = "steps";
  o.kind = "point";
  const std::vector<ChartSeries> s = plot_series({csv}, o);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].name, "ddim_fid");
  EXPECT_EQ(s[0].x, (std::vector<double>{10, 50}));
  EXPECT_EQ(s[0].y, (std::vector<double>{80, 40}));
}

TEST(Plot, RefusesWhatItCannotDrawSayingWhy) {
  test::TempDir dir;
  const std::string run = (dir.path() / "run").string();
  write(dir.path() / "run" / "metrics.csv", "kind,step,loss\nstep,1,2\n");
  PlotOptions o;
  o.y = {"d_fake"};
  test::expect_error([&] { plot_series({run}, o); }, {"has no column 'd_fake'", "it has step, loss"});
  o.y = {"loss"};
  o.x = "epoch";
  test::expect_error([&] { plot_series({run}, o); }, {"has no column 'epoch'"});
  o.x = "step";
  o.labels = {"a", "b"};
  test::expect_error([&] { plot_series({run}, o); }, {"2 labels for 1 sources"});
  o.labels = {};
  test::expect_error([&] { plot_series({(dir.path() / "none").string()}, o); }, {"cannot read", "none"});
  o.y = {};
  test::expect_error([&] { plot_series({run}, o); }, {"no column to draw"});
  o.y = {"loss"};
  test::expect_error([&] { save_plot({run}, o, ""); }, {"no output file"});
}
