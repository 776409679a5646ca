// Fuzz target: a run's metrics.csv, read back by `nanogen report`/`compare`
// (read_metrics_csv) and by a resumed training, which checks its header
// against the trainer's columns and drops the rows logged after the
// checkpoint it resumes from (RunFolder).
#include <filesystem>

#include "fuzz_target.h"
#include "tools/metrics_csv.h"
#include "tools/run_folder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string run = ng::fuzz::scratch_folder() + "/run";
  std::filesystem::remove_all(run);
  const std::string path = ng::fuzz::write_scratch_file("run/metrics.csv", data, size);
  ng::fuzz::expect_clean_refusal([&] {
    const ng::tools::MetricsTable table = ng::tools::read_metrics_csv(path);
    table.series("step", "loss", "step");
    table.last("epoch", "test_loss");
  });
  ng::fuzz::expect_clean_refusal([&] {
    ng::tools::RunFolder folder(run, /*resume=*/true);
    folder.declare_metrics({"step", "loss", "test_loss"});
    folder.drop_metrics_after(5);
    folder.metrics({{"step", 6.0}, {"loss", 0.5}}, "step");
  });
  return 0;
}
