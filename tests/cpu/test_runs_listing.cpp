// `nanogen runs`, `nanogen show`, --quiet and --json (issue #21): a tree of
// run folders made with the project's own RunFolder (one finished, one
// stopped, one killed, one new, two damaged) is listed with the values its
// files hold; --quiet silences every progress bar and status line; the
// summaries parse as JSON with their fields; and the real binary prints
// them, a listing of a damaged tree included.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/runs.h"
#include "support/temp_dir.h"
#include "tools/cli.h"
#include "tools/cli_summary.h"
#include "tools/progress.h"
#include "tools/run_folder.h"
#include "tools/run_status.h"

using namespace ng;
using namespace ng::tools;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// A run folder as a training leaves it: config.json, metrics.csv rows, a
// checkpoint file (its bytes do not matter to the listing) written
// `checkpoint_age_s` ago.
struct FakeRun {
  std::string model = "vae";
  int64_t epochs_asked = 3;
  std::vector<std::pair<std::string, std::map<std::string, double>>> rows;  // (kind, values)
  std::vector<std::string> columns = {"epoch", "step", "loss", "test_loss"};
  double checkpoint_age_s = -1;  // < 0: no checkpoint

  void write(const std::string& path) const {
    RunFolder run(path, /*resume=*/false);
    CommonOptions common;
    common.epochs = epochs_asked;
    common.data = "fashion-mnist";
    run.write_config({{"model", model}, {"common", common}, {"image", {1, 28, 28}}});
    run.declare_metrics(columns);
    for (const auto& [kind, values] : rows) run.metrics(values, kind);
    if (checkpoint_age_s >= 0) {
      const std::string ckpt = run.last_checkpoint_path();
      test::write_bytes(ckpt, "not a real checkpoint");
      fs::last_write_time(ckpt, fs::file_time_type::clock::now() -
                                    std::chrono::seconds(static_cast<int64_t>(checkpoint_age_s)));
    }
  }  // the RunFolder's lock is released here, as when a training ends
};

// The tree the listing tests read: names sorted as the listing sorts them.
void make_tree(const test::TempDir& dir) {
  FakeRun vae;  // killed in epoch 3 of 3: two epoch rows, step rows after them, no stop row
  vae.rows = {{"step", {{"epoch", 1}, {"step", 10}, {"loss", 300}}},
              {"epoch", {{"epoch", 1}, {"step", 10}, {"loss", 290}, {"test_loss", 280.25}}},
              {"epoch", {{"epoch", 2}, {"step", 20}, {"loss", 260}, {"test_loss", 250.5}}},
              {"step", {{"epoch", 3}, {"step", 25}, {"loss", 255}}}};
  vae.checkpoint_age_s = 2 * 3600 + 60;
  vae.write(dir.file("a_vae"));
  test::write_bytes(dir.file("a_vae/eval.json"), R"({"model": "vae", "n": 1000, "metrics": {"fid": 12.5}})");

  FakeRun gan;  // every epoch done
  gan.model = "gan";
  gan.epochs_asked = 1;
  gan.columns = {"epoch", "step", "d_loss", "g_loss"};
  gan.rows = {{"epoch", {{"epoch", 1}, {"step", 8}, {"d_loss", 0.75}, {"g_loss", 1.25}}}};
  gan.checkpoint_age_s = 30;
  gan.write(dir.file("b_gan"));

  FakeRun stopped;  // --max-steps mid-epoch: a "stop" row last
  stopped.rows = {{"step", {{"epoch", 1}, {"step", 5}, {"loss", 300}}}, {"stop", {{"epoch", 1}, {"step", 6}}}};
  stopped.checkpoint_age_s = 5 * 86400;
  stopped.write(dir.file("c_stopped"));

  test::write_bytes(dir.file("d_broken/config.json"), "{\"model\": \"vae\", ");  // cut off mid-write

  FakeRun bad_csv;
  bad_csv.checkpoint_age_s = 10;
  bad_csv.write(dir.file("e_bad_csv"));
  test::write_bytes(dir.file("e_bad_csv/metrics.csv"), "kind,epoch,step,loss,test_loss\nepoch,1,8,abc,\n");

  FakeRun fresh;  // stopped before its first checkpoint
  fresh.write(dir.file("f_new"));

  fs::create_directories(dir.file("report"));  // not a run: `nanogen compare`'s output
  test::write_bytes(dir.file("report/report.html"), "<html></html>");
  test::write_bytes(dir.file("notes.txt"), "not a folder");
}

// Runs the binary; stdout and stderr come back as text.
struct Ran {
  int status = -1;
  std::string out, err;
};
Ran run_nanogen(std::vector<std::string> args, const std::string& scratch) {
  args.insert(args.begin(), NANOGEN_BINARY);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string out = scratch + ".out", err = scratch + ".err";
  const int out_fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  const int err_fd = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(out_fd, STDOUT_FILENO);
    dup2(err_fd, STDERR_FILENO);
    execv(argv[0], argv.data());
    _exit(127);
  }
  ::close(out_fd);
  ::close(err_fd);
  int status = 0;
  waitpid(pid, &status, 0);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, test::read_bytes(out), test::read_bytes(err)};
}

const json& by_name(const json& runs, const std::string& name) {
  for (const json& r : runs)
    if (r.at("name") == name) return r;
  throw std::runtime_error("no run named " + name);
}

}  // namespace

TEST(RunsListing, EachRunFolderWithTheValuesItsFilesHold) {
  test::TempDir dir;
  make_tree(dir);
  const std::vector<RunStatus> runs = list_runs(dir.path().string());
  std::vector<std::string> names;
  for (const RunStatus& r : runs) names.push_back(r.name);
  EXPECT_EQ(names, (std::vector<std::string>{"a_vae", "b_gan", "c_stopped", "d_broken", "e_bad_csv", "f_new"}));

  json list = json::array();
  for (const RunStatus& r : runs) list.push_back(run_status_json(r));
  list = json::parse(list.dump());  // what --json prints must read back

  const json& vae = by_name(list, "a_vae");
  EXPECT_EQ(vae.at("model"), "vae");
  EXPECT_EQ(vae.at("data"), "fashion-mnist");
  EXPECT_EQ(vae.at("epochs_done"), 2);
  EXPECT_EQ(vae.at("epochs_asked"), 3);
  EXPECT_EQ(vae.at("last_step"), 25);  // the step row after the last epoch row counts
  EXPECT_DOUBLE_EQ(vae.at("metrics").at("test_loss").get<double>(), 250.5);  // the last epoch's, not the first's
  EXPECT_DOUBLE_EQ(vae.at("fid").get<double>(), 12.5);
  EXPECT_EQ(vae.at("state"), "interrupted");
  EXPECT_NEAR(vae.at("checkpoint_age_s").get<double>(), 7260, 30);
  EXPECT_TRUE(vae.at("problems").empty());

  const json& gan = by_name(list, "b_gan");
  EXPECT_EQ(gan.at("state"), "finished");
  EXPECT_EQ(gan.at("epochs_done"), 1);
  EXPECT_DOUBLE_EQ(gan.at("metrics").at("d_loss").get<double>(), 0.75);
  EXPECT_DOUBLE_EQ(gan.at("metrics").at("g_loss").get<double>(), 1.25);
  EXPECT_TRUE(gan.at("fid").is_null());

  const json& stopped = by_name(list, "c_stopped");
  EXPECT_EQ(stopped.at("state"), "stopped");
  EXPECT_EQ(stopped.at("epochs_done"), 0);
  EXPECT_EQ(stopped.at("last_step"), 6);
  EXPECT_TRUE(stopped.at("metrics").at("test_loss").is_null());

  const json& broken = by_name(list, "d_broken");
  EXPECT_EQ(broken.at("state"), "damaged");
  EXPECT_EQ(broken.at("state_note"), "config.json is not valid JSON");
  EXPECT_TRUE(broken.at("model").is_null());

  const json& bad_csv = by_name(list, "e_bad_csv");
  EXPECT_EQ(bad_csv.at("state"), "damaged");
  EXPECT_EQ(bad_csv.at("model"), "vae");  // what could be read still is
  EXPECT_NE(bad_csv.at("state_note").get<std::string>().find("'abc' is not a number"), std::string::npos)
      << bad_csv.at("state_note");

  EXPECT_EQ(by_name(list, "f_new").at("state"), "new");
  EXPECT_TRUE(by_name(list, "f_new").at("checkpoint_age_s").is_null());

  // The text: a header, then one line per run in the same order.
  const std::string table = runs_table(list);
  std::vector<std::string> lines;
  for (size_t at = 0, end; (end = table.find('\n', at)) != std::string::npos; at = end + 1)
    lines.push_back(table.substr(at, end - at));
  ASSERT_EQ(lines.size(), 7u) << table;
  EXPECT_EQ(lines[0].rfind("RUN", 0), 0u) << table;
  for (const char* cell : {"a_vae", "vae", "fashion-mnist", "2/3", "25", "2h ago", "12.5", "test -ELBO 250.5",
                           "interrupted"})
    EXPECT_NE(lines[1].find(cell), std::string::npos) << cell << " missing from: " << lines[1];
  EXPECT_NE(lines[2].find("D loss 0.75, G loss 1.25"), std::string::npos) << lines[2];
  EXPECT_NE(lines[3].find("5d ago"), std::string::npos) << lines[3];
  EXPECT_NE(lines[4].find("damaged (config.json is not valid JSON)"), std::string::npos) << lines[4];
}

TEST(RunsListing, ARunWhoseFolderIsLockedIsRunning) {
  test::TempDir dir;
  RunFolder live(dir.file("live"), false);  // what a training holds while it runs
  const RunStatus status = read_run_status(dir.file("live"));
  ASSERT_TRUE(status.lock_holder.has_value()) << "the lock of a live RunFolder was not found in /proc/locks";
  EXPECT_EQ(*status.lock_holder, int64_t(getpid()));
  EXPECT_EQ(status.state, "running");  // even before its config.json is written
  // Listed, though it has no config.json yet.
  ASSERT_EQ(list_runs(dir.path().string()).size(), 1u);
}

TEST(RunsListing, ShowHoldsOptionsLastEpochEvalAndFiles) {
  test::TempDir dir;
  make_tree(dir);
  const json d = json::parse(run_details_json(read_run_status(dir.file("a_vae"))).dump());
  EXPECT_EQ(d.at("config").at("common").at("epochs"), 3);
  EXPECT_DOUBLE_EQ(d.at("last_epoch").at("test_loss").get<double>(), 250.5);
  EXPECT_DOUBLE_EQ(d.at("last_epoch").at("epoch").get<double>(), 2);
  EXPECT_DOUBLE_EQ(d.at("eval").at("fid").get<double>(), 12.5);
  EXPECT_EQ(d.at("eval").at("n"), 1000);
  std::vector<std::string> paths;
  for (const json& f : d.at("files")) paths.push_back(f.at("path"));
  for (const char* p : {"checkpoints/last.safetensors", "config.json", "eval.json", "metrics.csv", "samples/"})
    EXPECT_NE(std::find(paths.begin(), paths.end(), p), paths.end()) << p;
  EXPECT_EQ(std::find(paths.begin(), paths.end(), ".lock"), paths.end());

  const std::string text = run_details_text(d);
  for (const char* piece : {"options (config.json)", "common.epochs", "last epoch (metrics.csv)", "test_loss",
                            "250.5", "eval.json", "fid", "12.5", "files", "checkpoints/last.safetensors"})
    EXPECT_NE(text.find(piece), std::string::npos) << piece << " missing from:\n" << text;
}

TEST(Progress, QuietSilencesBarsLinesAndNotesButKeepsCounting) {
  set_quiet(true);
  testing::internal::CaptureStderr();
  Progress bar("epoch 1/1", 10, 1);
  for (int64_t i = 1; i <= 10; ++i) bar.update(i, "loss 1.0");
  bar.finish("done");
  LazyProgress lazy("sampling");
  lazy.callback()(5, 5);
  lazy.finish("");
  note("eval: bits/dim ...");
  const std::string quiet_text = testing::internal::GetCapturedStderr();
  set_quiet(false);
  EXPECT_EQ(quiet_text, "");
  EXPECT_GT(bar.rate(), 0.0);  // the trainer still logs it/s under --quiet

  testing::internal::CaptureStderr();
  Progress loud("epoch 1/1", 10, 1);
  loud.update(10, "loss 1.0");
  loud.finish("done");
  note("eval: bits/dim ...");
  const std::string loud_text = testing::internal::GetCapturedStderr();
  EXPECT_NE(loud_text.find("epoch 1/1 done"), std::string::npos) << loud_text;
  EXPECT_NE(loud_text.find("eval: bits/dim ..."), std::string::npos) << loud_text;
}

TEST(Summary, TrainSummariesAreJsonWithTheirFieldsAndTextFromIt) {
  VAESummary vae;
  vae.run = "runs/vae";
  vae.steps = 2811;
  vae.epochs_done = 3;
  vae.last_means = {{"loss", 260.0}};
  vae.test = {251.3, 240.1, 11.2, 10000};
  const json j = json::parse(vae_summary_json(vae).dump());
  EXPECT_EQ(j.at("model"), "vae");
  EXPECT_EQ(j.at("run"), "runs/vae");
  EXPECT_EQ(j.at("steps"), 2811);
  EXPECT_EQ(j.at("epochs"), 3);
  EXPECT_EQ(j.at("interrupted"), false);
  EXPECT_DOUBLE_EQ(j.at("test").at("neg_elbo").get<double>(), 251.3);
  EXPECT_EQ(j.at("test").at("images"), 10000);
  EXPECT_EQ(vae_summary_text(j), "run: runs/vae\nsteps: 2811\nepochs: 3\n"
                                 "test -ELBO: 251.300 nats/image (recon 240.100, KL 11.200)\n");

  vae.test.images = 0;  // not evaluated: null, and no line
  EXPECT_TRUE(vae_summary_json(vae).at("test").is_null());
  EXPECT_EQ(vae_summary_text(vae_summary_json(vae)).find("ELBO"), std::string::npos);

  DDPMSummary ddpm;
  ddpm.run = "runs/ddpm";
  ddpm.epochs_done = 1;
  ddpm.last_epoch_loss = 0.0312;
  ddpm.bound.total = 4.25;
  ddpm.bound.images = 8;
  const json d = json::parse(ddpm_summary_json(ddpm).dump());
  EXPECT_DOUBLE_EQ(d.at("last_epoch_loss").get<double>(), 0.0312);
  EXPECT_DOUBLE_EQ(d.at("bound").at("bits_per_dim").get<double>(), 4.25);
  EXPECT_NE(ddpm_summary_text(d).find("test bound: 4.2500 bits/dim"), std::string::npos) << ddpm_summary_text(d);

  ClassifierSummary c;
  c.run = "runs/classifier";
  c.test = {0.3, 0.9125, 2000};
  c.classifier_file = "runs/classifier/classifier.safetensors";
  const json cj = json::parse(classifier_summary_json(c).dump());
  EXPECT_DOUBLE_EQ(cj.at("test").at("accuracy").get<double>(), 0.9125);
  EXPECT_EQ(cj.at("classifier"), "runs/classifier/classifier.safetensors");
  EXPECT_NE(classifier_summary_text(cj).find("test accuracy: 0.9125 (2000 images, loss 0.3000)"), std::string::npos);
}

TEST(RunsListing, TheBinaryListsShowsAndRefuses) {
  test::TempDir dir;
  make_tree(dir);
  const Ran text = run_nanogen({"runs", dir.path().string()}, dir.file("text"));
  ASSERT_EQ(text.status, 0) << text.err;
  EXPECT_NE(text.out.find("a_vae"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("damaged"), std::string::npos) << text.out;

  const Ran as_json = run_nanogen({"runs", dir.path().string(), "--json"}, dir.file("json"));
  ASSERT_EQ(as_json.status, 0) << as_json.err;
  const json list = json::parse(as_json.out);
  ASSERT_TRUE(list.is_array());
  EXPECT_EQ(list.size(), 6u);
  EXPECT_EQ(by_name(list, "a_vae").at("epochs_done"), 2);

  const Ran show = run_nanogen({"show", dir.file("b_gan"), "--json"}, dir.file("show"));
  ASSERT_EQ(show.status, 0) << show.err;
  EXPECT_EQ(json::parse(show.out).at("state"), "finished");

  const Ran missing = run_nanogen({"show", dir.file("nope")}, dir.file("missing"));
  EXPECT_NE(missing.status, 0);
  EXPECT_NE(missing.err.find("is not a folder"), std::string::npos) << missing.err;
  EXPECT_EQ(missing.out, "");

  const Ran not_dir = run_nanogen({"runs", dir.file("nope")}, dir.file("nodir"));
  EXPECT_NE(not_dir.status, 0);
}

TEST(RunsListing, TrainQuietJsonPrintsOnlyTheSummary) {
  if (!test::have_fashion_mnist()) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  test::TempDir dir;
  const Ran r = run_nanogen({"train", "vae", "--device", "cpu", "--threads", "2", "--epochs", "1", "--batch-size",
                             "32", "--limit", "256", "--test-limit", "64", "--out", dir.file("vae"), "--quiet",
                             "--json"},
                            dir.file("train"));
  ASSERT_EQ(r.status, 0) << r.err;
  const json s = json::parse(r.out);  // stdout is the JSON object and nothing else
  EXPECT_EQ(s.at("model"), "vae");
  EXPECT_EQ(s.at("run"), dir.file("vae"));
  EXPECT_EQ(s.at("steps"), 8);  // 256 images / 32
  EXPECT_EQ(s.at("epochs"), 1);
  EXPECT_GT(s.at("test").at("neg_elbo").get<double>(), 0.0);
  // No progress on stderr: neither the per-step lines nor the bar's "done" line.
  EXPECT_EQ(r.err.find(" step "), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("done:"), std::string::npos) << r.err;

  // The listing agrees with the summary.
  const RunStatus status = read_run_status(dir.file("vae"));
  EXPECT_EQ(status.state, "finished");
  EXPECT_EQ(status.last_step, 8);
  ASSERT_NE(status.last_epoch(), nullptr);
  EXPECT_NEAR(*status.last_epoch()->number("test_loss"), s.at("test").at("neg_elbo").get<double>(), 1e-3);
}
