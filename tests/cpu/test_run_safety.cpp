// What a run folder promises against the accidents of real use, each found by
// probing the binary: two trainings into one folder, temporaries of a killed
// checkpoint write, metrics rows logged after the last checkpoint of a killed
// session, options that mean nothing, --resume with nothing to resume or
// nothing left to train, damaged checkpoint metadata and configs, and file
// names at the file system's limit.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "engine/io/atomic_file.h"
#include "engine/io/image.h"
#include "engine/io/safetensors.h"
#include "support/gradcheck.h"
#include "support/runs.h"
#include "support/temp_dir.h"
#include "tools/eval.h"
#include "tools/eval_models.h"
#include "tools/metrics_csv.h"
#include "tools/run_config.h"
#include "tools/run_folder.h"
#include "tools/sample.h"
#include "tools/train_common.h"
#include "tools/train_vae.h"

using namespace ng;
using test::expect_error;
using test::have_fashion_mnist;
using test::temp_run;
using test::TempDir;

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_text(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

// A VAE run small enough for a unit test: 8 steps an epoch.
tools::CommonOptions tiny_run(const std::string& out) {
  tools::CommonOptions o;
  o.out = out;
  o.device = "cpu";
  o.epochs = 2;
  o.batch_size = 32;
  o.limit = 256;
  o.test_limit = 64;
  o.log_every = 1;
  return o;
}

// The (kind, step) pairs of metrics.csv's rows, with how often each appears.
std::map<std::pair<std::string, std::string>, int> metrics_rows(const std::string& run) {
  std::ifstream in(run + "/metrics.csv");
  std::string line;
  std::getline(in, line);
  std::vector<std::string> header;
  std::stringstream hs(line);
  for (std::string c; std::getline(hs, c, ',');) header.push_back(c);
  const size_t step = size_t(std::find(header.begin(), header.end(), "step") - header.begin());
  std::map<std::pair<std::string, std::string>, int> rows;
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::stringstream ls(line);
    for (std::string c; std::getline(ls, c, ',');) cells.push_back(c);
    if (cells.size() > step) ++rows[{cells[0], cells[step]}];
  }
  return rows;
}

}  // namespace

TEST(RunFolderLock, ASecondTrainingIntoTheFolderIsRefusedWhileTheFirstLives) {
  TempDir dir;
  const std::string run = dir.file("run");
  {
    const tools::RunFolder first(run, false);
    // The message names the holder.
    expect_error([&] { tools::RunFolder second(run, true); },
                 {"is in use by another training", "(process " + std::to_string(::getpid()) + ")"});
  }
  EXPECT_NO_THROW(tools::RunFolder again(run, true));  // released with the first
}

// The pid of a process that has exited.
std::string dead_pid() {
  const pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, nullptr, 0);
  return std::to_string(child);
}

TEST(RunFolderLock, TemporariesOfAKilledWriteAreRemovedAndOtherFilesKept) {
  TempDir dir;
  const std::string run = dir.file("run");
  std::filesystem::create_directories(run + "/checkpoints");
  std::filesystem::create_directories(run + "/samples");
  const std::string dead = dead_pid(), alive = std::to_string(getpid());
  const std::vector<std::string> killed = {"checkpoints/epoch_001.safetensors.tmp." + dead,
                                           "checkpoints/last.safetensors.tmp." + dead, "metrics.csv.tmp." + dead};
  // `nanogen sample` writing into samples/ (it takes no lock) is alive.
  const std::vector<std::string> kept = {"notes.tmp.txt", "checkpoints/keep.tmp.", "samples/sample_seed0.png.tmp." + alive};
  for (const std::string& name : killed) write_text(run + "/" + name, "x");
  for (const std::string& name : kept) write_text(run + "/" + name, "x");
  const tools::RunFolder folder(run, true);
  for (const std::string& name : killed) EXPECT_FALSE(std::filesystem::exists(run + "/" + name)) << name;
  for (const std::string& name : kept) EXPECT_TRUE(std::filesystem::exists(run + "/" + name)) << name;
}

TEST(RunFolderMetrics, RowsAfterTheCheckpointStepAreDroppedOnResume) {
  TempDir dir;
  const std::string run = dir.file("run");
  tools::RunFolder folder(run, false);
  folder.declare_metrics({"epoch", "step", "loss"});
  for (int step : {4, 8, 12, 16}) folder.metrics({{"epoch", 1}, {"step", step}, {"loss", 1.0 / step}}, "step");
  folder.metrics({{"epoch", 1}, {"step", 8}}, "stop");
  folder.drop_metrics_after(8);
  const auto rows = metrics_rows(run);
  EXPECT_EQ(rows.size(), 3u);
  EXPECT_TRUE(rows.count({"step", "4"}) && rows.count({"step", "8"}) && rows.count({"stop", "8"}));
  EXPECT_EQ(read_text(run + "/metrics.csv").rfind("kind,epoch,step,loss\n", 0), 0u) << "the header stays";
}

TEST(AtomicFile, ANameAtTheFileSystemLimitStillGetsATemporary) {
  TempDir dir;
  const std::string path = dir.file(std::string(250, 'n'));
  EXPECT_LE(std::filesystem::path(AtomicFile(path).temp_path()).filename().string().size(), 255u);
  const std::string text = "a checkpoint";
  write_file_atomically(path, text.data(), text.size());
  EXPECT_EQ(read_text(path), text);
}

TEST(TrainingOptions, MeaninglessValuesAreRefusedBeforeAnyWork) {
  const std::string out = temp_run("meaningless");
  const std::vector<std::pair<std::function<void(tools::CommonOptions&)>, std::string>> cases = {
      {[](tools::CommonOptions& o) { o.log_every = 0; }, "--log-every must be at least 1"},
      {[](tools::CommonOptions& o) { o.epochs = -2; }, "--epochs must be at least 1, got -2"},
      {[](tools::CommonOptions& o) { o.batch_size = 0; }, "--batch-size must be at least 1"},
      {[](tools::CommonOptions& o) { o.lr = -1; }, "--lr must be a positive number, got -1"},
      {[](tools::CommonOptions& o) { o.limit = -5; }, "--limit must be >= 0"},
      {[](tools::CommonOptions& o) { o.test_limit = -5; }, "--test-limit must be >= 0"},
      {[](tools::CommonOptions& o) { o.max_steps = -1; }, "--max-steps must be >= 0"},
      {[](tools::CommonOptions& o) { o.threads = -3; }, "--threads must be >= 0"},
      {[](tools::CommonOptions& o) { o.time_limit = -1; }, "--time-limit must be >= 0"},
  };
  for (const auto& [change, expected] : cases) {
    tools::CommonOptions o = tiny_run(out);
    change(o);
    SCOPED_TRACE(expected);
    expect_error([&] { tools::train_vae(o, {}); }, {expected});
    EXPECT_FALSE(std::filesystem::exists(out)) << expected << ": the folder was made";
  }
}

TEST(TrainingOptions, AModelsMeaninglessValuesAreNamed) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  tools::VAEOptions no_latent;
  no_latent.z_dim = 0;
  tools::VAEOptions negative_beta;
  negative_beta.beta = -1;
  for (const auto& [options, expected] : std::vector<std::pair<tools::VAEOptions, std::string>>{
           {no_latent, "vae: --z-dim must be at least 1"}, {negative_beta, "vae: --beta (the KL term's weight)"}}) {
    expect_error([&] { tools::train_vae(tiny_run(temp_run("vae_options")), options); }, {expected});
  }
}

// `nanogen sample --n` beyond one batch goes through in batches of 256: the
// first 256 images are those of --n 256, and the rest follow.
TEST(Sampling, ALargeNGoesThroughInBatches) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  const std::string out = temp_run("sample_batches");
  tools::CommonOptions o = tiny_run(out);
  o.max_steps = 2;
  tools::train_vae(o, {});
  tools::SampleOptions so;
  so.device = "cpu";
  so.n = 300;
  const Tensor many = tools::sample_run(out, so);
  so.n = 256;
  const Tensor first = tools::sample_run(out, so);
  ASSERT_EQ(many.shape(), (Shape{300, 1, 28, 28}));
  EXPECT_EQ(many.narrow(0, 0, 256).contiguous().to_vector<float>(), first.to_vector<float>());
}

TEST(TrainingResume, AFolderWithoutACheckpointIsNotSilentlyStartedOver) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  const std::string out = temp_run("resume_nothing");
  // A first session that stopped before its first checkpoint: config and metrics only.
  tools::train_vae(tiny_run(out), {});
  std::filesystem::remove_all(out + "/checkpoints");
  const std::string metrics = read_text(out + "/metrics.csv");
  tools::CommonOptions again = tiny_run(out);
  again.resume = true;
  expect_error([&] { tools::train_vae(again, {}); }, {"has no checkpoint to resume from"});
  EXPECT_EQ(read_text(out + "/metrics.csv"), metrics) << "the old metrics are left as they were";
}

// --resume naming a run that does not exist started a fresh full training
// (hours of ETA) instead of saying so.
TEST(TrainingResume, ARunThatDoesNotExistIsNotStartedByResume) {
  const std::string out = temp_run("resume_missing");
  tools::CommonOptions o = tiny_run(out);
  o.resume = true;
  expect_error([&] { tools::train_vae(o, {}); }, {"--resume: there is no run at " + out + " to resume"});
  EXPECT_FALSE(std::filesystem::exists(out)) << "no folder is made";
}

TEST(TrainingResume, AtItsMaxStepsARunTrainsNoFurtherStep) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  const std::string out = temp_run("resume_at_max");
  tools::CommonOptions o = tiny_run(out);
  o.max_steps = 5;
  EXPECT_EQ(tools::train_vae(o, {}).steps, 5);
  const auto before = load_safetensors(out + "/checkpoints/last.safetensors");
  o.resume = true;
  EXPECT_EQ(tools::train_vae(o, {}).steps, 5);
  const auto after = load_safetensors(out + "/checkpoints/last.safetensors");
  EXPECT_EQ(after.metadata.at("global_step"), "5");
  EXPECT_EQ(before.metadata, after.metadata);
}

TEST(TrainingResume, OptionsTheRunKeepsAreSaidNotApplied) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  const std::string out = temp_run("resume_lr");
  tools::CommonOptions o = tiny_run(out);
  o.max_steps = 2;
  tools::train_vae(o, {});
  o.resume = true;
  o.max_steps = 3;
  o.lr = 0.01;
  tools::train_vae(o, {});
  const std::string log = read_text(out + "/log.txt");
  EXPECT_NE(log.find("--resume: a run keeps the options it started with; not applied: --lr 0.01 (the run keeps "
                     "0.001)"),
            std::string::npos)
      << log;
  EXPECT_EQ(log.find("--batch-size"), std::string::npos) << "only what differs is listed: " << log;
}

// A session killed after logging rows past its last checkpoint: the resumed
// session logs those steps again, and each (kind, step) row appears once.
TEST(TrainingResume, RowsOfAKilledSessionAfterItsCheckpointAreNotDuplicated) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  const std::string out = temp_run("resume_rows");
  tools::CommonOptions o = tiny_run(out);
  o.max_steps = 5;
  tools::train_vae(o, {});
  {  // what the killed session had logged after its checkpoint at step 5
    std::ofstream csv(out + "/metrics.csv", std::ios::app);
    csv << "step,1,6\nstep,1,7\n";
  }
  o.max_steps = 0;
  o.resume = true;
  tools::train_vae(o, {});
  for (const auto& [row, count] : metrics_rows(out))
    EXPECT_EQ(count, 1) << "row " << row.first << " at step " << row.second << " appears " << count << " times";
  EXPECT_EQ(metrics_rows(out).count({"step", "16"}), 1u);
}

TEST(TrainingResume, DamagedCheckpointMetadataIsNamed) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  const std::string out = temp_run("resume_damaged");
  tools::CommonOptions o = tiny_run(out);
  o.max_steps = 3;
  tools::train_vae(o, {});
  const std::string last = out + "/checkpoints/last.safetensors";
  const SafetensorsContent good = load_safetensors(last);
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"epoch", "abc"}, {"epoch", "-3"}, {"global_step", "1e300"}, {"step_in_epoch", "99"}}) {
    Metadata m = good.metadata;
    m[key] = value;
    save_safetensors(last, good.tensors, m);
    tools::CommonOptions again = tiny_run(out);
    again.resume = true;
    SCOPED_TRACE(key + "=" + value);
    expect_error([&] { tools::train_vae(again, {}); }, {"resume: the checkpoint's metadata"});
  }
}

TEST(SavedRun, AConfigWithoutAnImageShapeIsNamedNotFollowed) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  const std::string out = temp_run("config_image");
  tools::CommonOptions o = tiny_run(out);
  o.max_steps = 1;
  tools::train_vae(o, {});
  const std::string config = read_text(out + "/config.json");
  for (const char* bad : {"[]", "[1, 28]", "[1, 0, 28]", "\"28x28\""}) {
    nlohmann::json j = nlohmann::json::parse(config);
    j["image"] = nlohmann::json::parse(bad);
    write_text(out + "/config.json", j.dump(2));
    SCOPED_TRACE(bad);
    expect_error([&] { tools::load_vae_run(out, Device::cpu()); }, {"config.json's \"image\" is"});
  }
}

// A checkpoint written after the run diverged: sampling and resuming refuse
// it by name instead of drawing a black grid or training on NaN.
TEST(SavedRun, NonFiniteWeightsAreRefusedByName) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  const std::string out = temp_run("nan_weights");
  tools::CommonOptions o = tiny_run(out);
  o.max_steps = 2;
  tools::train_vae(o, {});
  const std::string last = out + "/checkpoints/last.safetensors";
  SafetensorsContent c = load_safetensors(last);
  const std::string name = c.tensors[0].first;
  c.tensors[0].second = full_like(c.tensors[0].second, std::nan(""));
  save_safetensors(last, c.tensors, c.metadata);
  expect_error([&] { tools::load_vae_run(out, Device::cpu()); }, {"'" + name + "' holds NaN or infinite values"});
  o.resume = true;
  o.max_steps = 4;
  expect_error([&] { tools::train_vae(o, {}); }, {"'" + name + "' holds NaN or infinite values"});
}

// eval holds its n samples at once: an n beyond the memory available is
// refused before any sampling, and so is a nearest-neighbour grid beyond
// what anyone could look at (both grew until the OOM killer came).
TEST(Eval, AnNOrAGridThatCannotFitIsRefusedBeforeSampling) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  const std::string out = temp_run("eval_limits");
  tools::CommonOptions o = tiny_run(out);
  o.max_steps = 1;
  tools::train_vae(o, {});
  tools::EvalOptions e;
  e.device = "cpu";
  e.n = int64_t(1) << 40;
  expect_error([&] { tools::evaluate_run(out, e); }, {"eval: --n 1099511627776 needs about", "GiB this machine has available"});
  e.n = 100;
  e.nearest_k = 100000;
  expect_error([&] { tools::evaluate_run(out, e); }, {"--nearest-k must be from 1 to 64", "got 100000"});
  EXPECT_FALSE(std::filesystem::exists(out + "/eval")) << "nothing was sampled";
}

// config.json read back: a value of the wrong kind is named, not cast (a
// float where a whole number belongs was cast, 1e300 to int64 being
// undefined behaviour), and so are unknown options and a missing model name.
TEST(RunConfig, ValuesOfTheWrongKindAreNamedNotCast) {
  using nlohmann::json;
  using tools::run_options;
  expect_error([] { run_options<tools::VAEOptions>(json{{"vae", {{"z_dim", 1e300}}}}, "vae", "r"); },
               {"run r: config.json's \"vae\"'s \"z_dim\" is 1e+300, expected a whole number"});
  expect_error([] { run_options<tools::CommonOptions>(json{{"common", {{"seed", -5}}}}, "common", "r"); },
               {"\"seed\" is -5, expected a non-negative whole number"});
  expect_error([] { run_options<tools::CommonOptions>(json{{"common", {{"resume", "yes"}}}}, "common", "r"); },
               {"\"resume\" is \"yes\", expected true or false"});
  expect_error([] { run_options<tools::VAEOptions>(json{{"vae", {{"zdim", 3}}}}, "vae", "r"); },
               {"has an unknown option \"zdim\""});
  expect_error([] { run_options<tools::VAEOptions>(json{{"vae", 5}}, "vae", "r"); },
               {"\"vae\" holds number, expected an object of options"});
  expect_error([] { run_options<tools::GANOptions>(json{{"vae", json::object()}}, "gan", "r"); },
               {"config.json's \"gan\" options are missing"});
  // What is right is read, the rest at its defaults.
  const tools::VAEOptions o = run_options<tools::VAEOptions>(json{{"vae", {{"z_dim", 7}, {"beta", 2}}}}, "vae", "r");
  EXPECT_EQ(o.z_dim, 7);
  EXPECT_EQ(o.beta, 2.0);
  EXPECT_EQ(o.likelihood, tools::VAEOptions{}.likelihood);

  TempDir dir;
  write_text(dir.file("config.json"), "[1, 2]");
  expect_error([&] { tools::read_run_config(dir.path().string(), "sample"); },
               {"sample: ", "config.json holds array, expected a JSON object"});
  write_text(dir.file("config.json"), R"({"model": 5})");
  expect_error([&] { tools::read_run_config(dir.path().string(), "sample"); }, {"has no \"model\" name"});
}

// A session stopped before its first epoch ends (--max-steps here; the
// same path serves --time-limit and Ctrl-C) left samples/ empty: a user
// trying 3 steps had nothing to look at. Its grids are written at the stop.
TEST(TrainingStop, AStopBeforeTheEpochEndsStillWritesTheSampleGrids) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  const std::string out = temp_run("stop_samples");
  tools::CommonOptions o = tiny_run(out);
  o.max_steps = 3;  // of 8 in the epoch
  EXPECT_EQ(tools::train_vae(o, {}).steps, 3);
  EXPECT_TRUE(std::filesystem::exists(out + "/samples/epoch_001.png"));
  EXPECT_TRUE(std::filesystem::exists(out + "/samples/recon_001.png"));
  // The VAE's interpolations: 8 rows of 10 images of 28 pixels, 2 apart.
  EXPECT_EQ(load_image(out + "/samples/interpolation_001.png").shape(), (Shape{1, 8 * 30 + 2, 10 * 30 + 2}));
  // The strip of the epochs so far (one) and the loss curves.
  EXPECT_EQ(load_image(out + "/samples/epoch_strip.png").shape(), (Shape{1, 2 + 28 + 2, 8 * 30 + 2}));
  EXPECT_TRUE(std::filesystem::exists(out + "/curves/training_loss_per_step.png"));
  // Its "stop" row holds the peak memory no epoch row reports, which eval's
  // costs (train_peak_memory_mb) read.
  const tools::MetricsTable metrics = tools::read_metrics_csv(out + "/metrics.csv");
  ASSERT_EQ(metrics.rows.back().kind, "stop");
  EXPECT_GT(metrics.rows.back().number("peak_memory_mb").value_or(0.0), 0.0);
}
