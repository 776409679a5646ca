// Reading metrics.csv back, as nanogen eval and compare do.
#include <gtest/gtest.h>

#include <fstream>

#include "support/gradcheck.h"
#include "support/temp_dir.h"
#include "tools/metrics_csv.h"

using namespace ng;
using namespace ng::tools;

namespace {

std::string write(const test::TempDir& dir, const std::string& text) {
  const std::string path = dir.file("metrics.csv");
  std::ofstream(path) << text;
  return path;
}

}  // namespace

TEST(MetricsCsv, RowsKindsEmptyFieldsAndSeries) {
  test::TempDir dir;
  const MetricsTable t = read_metrics_csv(write(dir,
                                                "kind,epoch,step,loss,test_loss\n"
                                                "step,1,50,300.5,\n"
                                                "step,1,100,280.25,\n"
                                                "epoch,1,100,290,250.75\n"
                                                "step,2,150,270,\n"));
  EXPECT_EQ(t.columns, (std::vector<std::string>{"epoch", "step", "loss", "test_loss"}));
  ASSERT_EQ(t.rows.size(), 4u);
  EXPECT_EQ(t.rows[2].kind, "epoch");
  EXPECT_EQ(t.rows[2].number("test_loss"), 250.75);
  EXPECT_FALSE(t.rows[0].number("test_loss").has_value());
  const auto loss = t.series("step", "loss");
  ASSERT_EQ(loss.size(), 3u);
  EXPECT_EQ(loss[1], (std::pair<double, double>{100, 280.25}));
  EXPECT_EQ(t.series("epoch", "test_loss"), (std::vector<std::pair<double, double>>{{100, 250.75}}));
}

TEST(MetricsCsv, BadFilesNameTheProblem) {
  test::TempDir dir;
  test::expect_error([&] { read_metrics_csv(dir.file("missing.csv")); }, {"cannot read", "missing.csv"});
  test::expect_error([&] { read_metrics_csv(write(dir, "epoch,step\n")); }, {"'kind,...' header"});
  test::expect_error([&] { read_metrics_csv(write(dir, "kind,step\nstep,abc\n")); },
                     {"line 2", "column 'step'", "'abc' is not a number"});
  test::expect_error([&] { read_metrics_csv(write(dir, "kind,step\nstep,1,2\n")); }, {"line 2 has 3 fields"});
}
