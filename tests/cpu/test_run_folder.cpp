// metrics.csv across versions: a resumed run whose header is a prefix of the
// trainer's columns (made before a column was added) is extended in place,
// its rows kept; any other header is refused. And the peak-memory helper.
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>
#include <string>

#include "support/gradcheck.h"
#include "support/runs.h"
#include "support/temp_dir.h"
#include "tools/run_folder.h"
#include "tools/train_common.h"
#include "tools/train_vae.h"

using namespace ng;
using test::read_bytes;
using test::TempDir;
using test::write_bytes;

// First, while the process is small (the test fills more than it ever held).
TEST(PeakMemory, TheCPUReportsThePeakResidentSet) {
  const double before = tools::peak_memory_mb(Device::cpu());
  EXPECT_GT(before, 1.0);  // a process holds at least its code
  {
    // Filling 64 MiB more than the process ever held (full() writes every
    // page, so all of it is resident) raises the peak by at least 64 MiB.
    const Tensor big = full({int64_t(before * 1024 * 1024 / 4) + 16 * 1024 * 1024}, 1.0);
    EXPECT_EQ(big.narrow(0, big.size(0) - 1, 1).item(), 1.0);
  }
  const double after = tools::peak_memory_mb(Device::cpu());
  EXPECT_GE(after, before + 60.0);
  tools::reset_peak_memory(Device::cpu());  // nothing to reset: ru_maxrss never falls
  EXPECT_GE(tools::peak_memory_mb(Device::cpu()), after);
}

TEST(RunFolderMetrics, NewRunWritesTheHeaderAndRows) {
  TempDir dir;
  const std::string run = dir.file("run");
  tools::RunFolder folder(run, false);
  folder.declare_metrics({"epoch", "loss", "peak_memory_mb"});
  folder.metrics({{"epoch", 1}, {"loss", 0.5}}, "step");
  EXPECT_EQ(read_bytes(run + "/metrics.csv"), "kind,epoch,loss,peak_memory_mb\nstep,1,0.5,\n");
}

TEST(RunFolderMetrics, AnOlderHeaderThatIsAPrefixIsExtendedAndItsRowsKept) {
  TempDir dir;
  const std::string run = dir.file("run");
  write_bytes(run + "/metrics.csv", "kind,epoch,step,loss\nstep,1,50,0.25\nepoch,1,100,0.125\n");
  tools::RunFolder folder(run, true);
  folder.declare_metrics({"epoch", "step", "loss", "time_s", "peak_memory_mb"});
  EXPECT_EQ(read_bytes(run + "/metrics.csv"),
            "kind,epoch,step,loss,time_s,peak_memory_mb\nstep,1,50,0.25,,\nepoch,1,100,0.125,,\n");
  // New rows go to the rewritten file, under the new header.
  folder.metrics({{"epoch", 2}, {"step", 200}, {"loss", 0.0625}, {"peak_memory_mb", 12.5}}, "epoch");
  EXPECT_EQ(read_bytes(run + "/metrics.csv"),
            "kind,epoch,step,loss,time_s,peak_memory_mb\nstep,1,50,0.25,,\nepoch,1,100,0.125,,\n"
            "epoch,2,200,0.0625,,12.5\n");
  // No temporary file is left behind.
  for (const auto& e : std::filesystem::directory_iterator(run))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
}

TEST(RunFolderMetrics, TheSameHeaderIsLeftAlone) {
  TempDir dir;
  const std::string run = dir.file("run");
  const std::string text = "kind,epoch,loss\nstep,1,0.5\n";
  write_bytes(run + "/metrics.csv", text);
  tools::RunFolder folder(run, true);
  folder.declare_metrics({"epoch", "loss"});
  EXPECT_EQ(read_bytes(run + "/metrics.csv"), text);
}

TEST(RunFolderMetrics, OtherHeadersAreRefused) {
  TempDir dir;
  const std::string run = dir.file("run");
  const std::string text = "kind,epoch,d_loss\nstep,1,0.5\n";
  write_bytes(run + "/metrics.csv", text);
  tools::RunFolder folder(run, true);
  // Another column in the same place, and a header longer than the new one.
  test::expect_error([&] { folder.declare_metrics({"epoch", "loss", "peak_memory_mb"}); },
                     {"metrics.csv", "kind,epoch,d_loss", "kind,epoch,loss,peak_memory_mb"});
  test::expect_error([&] { folder.declare_metrics({"epoch"}); }, {"kind,epoch,d_loss", "kind,epoch"});
  EXPECT_EQ(read_bytes(run + "/metrics.csv"), text);
}

TEST(RunFolderMetrics, ARunOfTheVersionBeforePeakMemoryResumes) {
  if (!test::have_fashion_mnist()) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  const std::string out = test::temp_run("vae_old_header");
  tools::CommonOptions o;
  o.out = out;
  o.device = "cpu";
  o.epochs = 1;
  o.batch_size = 32;
  o.limit = 128;  // 4 steps
  o.test_limit = 32;
  o.log_every = 1;
  o.max_steps = 2;
  tools::train_vae(o, {});
  // Make the run look like one of the version before: no peak_memory_mb column.
  const std::string csv = out + "/metrics.csv";
  std::istringstream lines(read_bytes(csv));
  std::string old_text, line;
  while (std::getline(lines, line)) {
    // The last column is peak_memory_mb, empty in step rows (the stop row has one).
    if (line.rfind("kind", 0) == 0) {
      ASSERT_EQ(line.substr(line.rfind(',')), ",peak_memory_mb");
    } else if (line.rfind("step", 0) == 0) {
      ASSERT_EQ(line.substr(line.rfind(',')), ",");
    }
    old_text += line.substr(0, line.rfind(',')) + "\n";
  }
  write_bytes(csv, old_text);
  o.resume = true;
  o.max_steps = 0;
  EXPECT_EQ(tools::train_vae(o, {}).steps, 4);
  // The old rows are kept, padded; the epoch row has the new column filled.
  std::istringstream now(read_bytes(csv));
  std::vector<std::string> rows;
  while (std::getline(now, line)) rows.push_back(line);
  ASSERT_EQ(rows.size(), 7u);  // the header, 2 step rows, the stop row, 2 step rows, 1 epoch row
  std::istringstream old_lines(old_text);
  std::getline(old_lines, line);
  EXPECT_EQ(rows[0], line + ",peak_memory_mb");
  for (int i = 1; i <= 3; ++i) {
    std::getline(old_lines, line);
    EXPECT_EQ(rows[size_t(i)], line + ",");
  }
  EXPECT_EQ(rows[3].rfind("stop,", 0), 0u);
  EXPECT_EQ(rows[6].rfind("epoch,", 0), 0u);
  EXPECT_GT(std::stod(rows[6].substr(rows[6].rfind(',') + 1)), 1.0);
}
