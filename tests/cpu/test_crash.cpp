// The promise "nothing a user made is lost", tested on the real binary: a
// training `nanogen train vae` killed with SIGKILL at random moments (and at
// moments a checkpoint is being written), again and again, always leaves a
// checkpoint that loads, and resuming it ends with the same weights, bit for
// bit, as a run never interrupted. SIGTERM and Ctrl-C save and stop; a second
// one quits at once. A checkpoint write that fails (the file size limit, the
// disk-full error's twin that needs no special mount) keeps the previous
// checkpoint and stops with a message; an output folder that cannot be made
// is refused before any training.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "engine/io/safetensors.h"
#include "support/runs.h"
#include "support/temp_dir.h"

using namespace ng;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// The options of a tiny VAE run (8 steps an epoch), on one thread so that
// every run of it has the same bits.
std::vector<std::string> tiny_vae(const std::string& out, int epochs = 3) {
  return {NANOGEN_BINARY, "train", "vae", "--device", "cpu", "--threads", "1", "--epochs", std::to_string(epochs),
          "--batch-size", "32", "--limit", "256", "--test-limit", "64", "--log-every", "1", "--out", out};
}

// A running child process, its stderr to a file.
struct Child {
  pid_t pid = -1;

  // What to do in the child between fork and exec (a limit, a signal disposition).
  static Child start(std::vector<std::string> args, const std::string& log, void (*prepare)() = nullptr) {
    // Everything the child needs is made before fork: after it, only
    // async-signal-safe calls.
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    Child c;
    c.pid = fork();
    if (c.pid == 0) {
      if (prepare) prepare();
      if (fd >= 0) {
        dup2(fd, STDERR_FILENO);
        dup2(fd, STDOUT_FILENO);
      }
      execv(argv[0], argv.data());
      _exit(127);
    }
    if (fd >= 0) ::close(fd);
    if (c.pid < 0) ADD_FAILURE() << "fork failed";
    return c;
  }

  // The exit status (>= 0) or minus the signal that ended it; -1000 while it runs.
  int poll() {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) != pid) return -1000;
    pid = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  }
  int wait() {
    int status = 0;
    waitpid(pid, &status, 0);
    pid = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  }
};

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Whether dir holds a write temporary (of process `pid` alone, when given:
// one a killed session left is not the write in progress).
bool has_temporary(const std::string& dir, pid_t pid = 0) {
  const std::string mark = pid > 0 ? ".tmp." + std::to_string(pid) : ".tmp.";
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    const size_t at = name.rfind(mark);
    if (at != std::string::npos && (pid == 0 || at + mark.size() == name.size())) return true;
  }
  return false;
}

// The model's weights and the optimizer's state of a checkpoint, by name.
NamedTensors checkpoint_tensors(const std::string& run) {
  return load_safetensors(run + "/checkpoints/last.safetensors").tensors;
}

void expect_same_bits(const NamedTensors& actual, const NamedTensors& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    EXPECT_EQ(actual[i].first, expected[i].first);
    const std::vector<float> a = actual[i].second.to_vector<float>(), e = expected[i].second.to_vector<float>();
    EXPECT_TRUE(a == e) << actual[i].first << " differs from the uninterrupted run's";
  }
}

}  // namespace

TEST(Crash, KilledAtRandomMomentsAndResumedEndsWithTheWeightsOfAnUninterruptedRun) {
  if (!test::have_fashion_mnist()) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  test::TempDir dir;
  const std::string reference = dir.file("reference"), killed = dir.file("killed");
  const auto begin = Clock::now();
  constexpr int kEpochs = 6;
  ASSERT_EQ(Child::start(tiny_vae(reference, kEpochs), dir.file("reference.log")).wait(), 0)
      << read_text(dir.file("reference.log"));
  const double run_seconds = std::chrono::duration<double>(Clock::now() - begin).count();

  // Kills at random moments, every other one aimed at a checkpoint write
  // (the moment a temporary appears in checkpoints/). The first session
  // starts the run; every later one resumes it, wherever the last one died.
  std::mt19937 random(20261206);
  constexpr int kKills = 12;
  int kills = 0, during_writes = 0, resumed_from_nothing = 0;
  for (int session = 0; session < kKills; ++session) {
    std::vector<std::string> args = tiny_vae(killed, kEpochs);
    const bool resume = fs::exists(killed + "/checkpoints/last.safetensors");
    if (resume) args.push_back("--resume");
    if (session > 0 && !resume) ++resumed_from_nothing;
    if (session > 0 && !resume) fs::remove_all(killed);  // died before its first checkpoint: start over
    Child child = Child::start(args, dir.file("killed.log"));
    const bool aim_at_write = session % 2 == 1;
    const auto deadline =
        Clock::now() + std::chrono::duration<double>(std::uniform_real_distribution<double>(0.02, 0.5)(random) *
                                                     run_seconds);
    bool in_write = false;
    int status = -1000;
    while ((status = child.poll()) == -1000) {
      in_write = aim_at_write && has_temporary(killed + "/checkpoints", child.pid);
      if (in_write || Clock::now() >= deadline) break;
      std::this_thread::sleep_for(std::chrono::microseconds(aim_at_write ? 100 : 2000));
    }
    if (status != -1000) {  // it finished before its moment came
      ASSERT_EQ(status, 0) << read_text(dir.file("killed.log"));
      break;
    }
    kill(child.pid, SIGKILL);
    const int killed_status = child.wait();
    if (killed_status == 0) break;  // it finished just before the signal came
    ASSERT_EQ(killed_status, -SIGKILL) << read_text(dir.file("killed.log"));
    ++kills;
    during_writes += in_write;
    // Whatever the moment, the last checkpoint (if one was written) loads.
    if (fs::exists(killed + "/checkpoints/last.safetensors")) {
      EXPECT_NO_THROW(checkpoint_tensors(killed));
    }
  }
  // The last session runs to the end.
  std::vector<std::string> args = tiny_vae(killed, kEpochs);
  if (fs::exists(killed + "/checkpoints/last.safetensors")) args.push_back("--resume");
  ASSERT_EQ(Child::start(args, dir.file("killed.log")).wait(), 0) << read_text(dir.file("killed.log"));

  std::printf("%d kills (%d during a checkpoint write), %d before the first checkpoint\n", kills, during_writes,
              resumed_from_nothing);
  EXPECT_GE(kills, kKills / 2) << "most sessions should have been killed";
  expect_same_bits(checkpoint_tensors(killed), checkpoint_tensors(reference));
  EXPECT_FALSE(has_temporary(killed + "/checkpoints")) << "a resumed run removes the temporaries of killed writes";
}

// The first SIGTERM (or Ctrl-C) asks for a checkpoint at the end of the
// step, and the run stops with it; a second one quits at once.
TEST(Crash, SigtermSavesACheckpointAndStopsASecondQuitsAtOnce) {
  if (!test::have_fashion_mnist()) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  test::TempDir dir;
  const std::string run = dir.file("run"), log = dir.file("run.log");
  std::vector<std::string> args = tiny_vae(run);
  args[8] = "1000";  // --epochs: far more than the test waits for
  Child child = Child::start(args, log);
  // Wait for training: a step row in metrics.csv.
  const auto give_up = Clock::now() + std::chrono::seconds(120);
  while (read_text(run + "/metrics.csv").find("\nstep,") == std::string::npos && Clock::now() < give_up)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  kill(child.pid, SIGTERM);
  const int status = child.wait();
  const std::string text = read_text(log);
  EXPECT_EQ(status, 0) << text;
  EXPECT_NE(text.find("interrupted: saving a checkpoint"), std::string::npos) << text;
  ASSERT_TRUE(fs::exists(run + "/checkpoints/last.safetensors")) << text;
  const SafetensorsContent saved = load_safetensors(run + "/checkpoints/last.safetensors");
  EXPECT_GT(std::stoll(saved.metadata.at("global_step")), 0);

  // A second signal while the first one's checkpoint is pending ends the
  // process at once, with status 130. The second is sent once the first is
  // acknowledged on stderr; should the child finish its step, save and exit
  // before it arrives (a race of the test's, not of the program's), the test
  // tries again.
  args.push_back("--resume");
  int second_status = 0;
  std::string statuses;  // of every attempt, for the failure message
  for (int attempt = 0; attempt < 5 && second_status != 130; ++attempt) {
    const std::string resumed_log = dir.file("resumed" + std::to_string(attempt) + ".log");
    Child resumed = Child::start(args, resumed_log);
    const auto wait_until = Clock::now() + std::chrono::seconds(120);
    while (read_text(resumed_log).find("resuming") == std::string::npos && Clock::now() < wait_until)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    kill(resumed.pid, SIGINT);
    while (read_text(resumed_log).find("interrupted:") == std::string::npos && resumed.poll() == -1000)
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    const bool running = resumed.pid > 0;
    if (running) kill(resumed.pid, SIGINT);
    second_status = running ? resumed.wait() : 0;
    statuses += " " + std::string(running ? "" : "(exited before the second signal) ") + std::to_string(second_status);
  }
  EXPECT_EQ(second_status, 130) << "statuses:" << statuses;
}

namespace {

rlim_t g_file_size_limit = 0;

// In the child: writes past g_file_size_limit fail with EFBIG instead of
// killing the process (SIGXFSZ ignored, which exec keeps).
void limit_file_size() {
  signal(SIGXFSZ, SIG_IGN);
  const rlimit limit{g_file_size_limit, g_file_size_limit};
  setrlimit(RLIMIT_FSIZE, &limit);
}

}  // namespace

// A checkpoint write that fails part way (the file size limit: its EFBIG
// takes the path a full disk's ENOSPC takes, without a special mount) stops
// the run with a message naming the file, keeps the previous checkpoint as
// it was, and leaves no temporary behind.
TEST(Crash, ACheckpointWriteThatFailsKeepsThePreviousCheckpoint) {
  if (!test::have_fashion_mnist()) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  test::TempDir dir;
  const std::string run = dir.file("run"), log = dir.file("run.log");
  std::vector<std::string> args = tiny_vae(run);
  args[8] = "1";  // --epochs 1: one good checkpoint
  ASSERT_EQ(Child::start(args, log).wait(), 0) << read_text(log);
  const std::string checkpoint = run + "/checkpoints/last.safetensors";
  const NamedTensors before = checkpoint_tensors(run);

  args[8] = "2";
  args.push_back("--resume");
  g_file_size_limit = rlim_t(fs::file_size(checkpoint) / 2);
  const int status = Child::start(args, log, limit_file_size).wait();
  const std::string text = read_text(log);
  EXPECT_EQ(status, 1) << text;
  EXPECT_NE(text.find("File too large"), std::string::npos) << text;
  EXPECT_NE(text.find(run + "/checkpoints/"), std::string::npos) << "the message names the file: " << text;
  expect_same_bits(checkpoint_tensors(run), before);
  EXPECT_FALSE(has_temporary(run + "/checkpoints"));
}

// An output folder that cannot be made is refused before the data set is
// read or a step trained.
TEST(Crash, AnOutputFolderThatCannotBeMadeIsRefusedBeforeTraining) {
  test::TempDir dir;
  const std::string file = dir.file("a-file");
  std::ofstream(file) << "not a folder";
  const std::string log = dir.file("run.log");
  const int status = Child::start(tiny_vae(file + "/run"), log).wait();
  const std::string text = read_text(log);
  EXPECT_EQ(status, 1) << text;
  EXPECT_NE(text.find("run folder " + file + "/run: cannot create it (Not a directory"), std::string::npos) << text;
  EXPECT_EQ(text.find("training"), std::string::npos) << "refused before training: " << text;
}
