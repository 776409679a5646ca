// Progress for long loops: a redrawn bar on a terminal, plain lines
// otherwise (logs, CI). Always on stderr; results go to stdout.
//
// --quiet is one process-wide switch here, so that every bar and status line
// (the trainers', eval's, the samplers') goes silent without each caller
// asking; warnings and errors are printed directly and stay visible.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace ng::tools {

// --quiet: Progress, LazyProgress and note() print nothing while it is on.
void set_quiet(bool quiet);
bool quiet();
// A status line on stderr ("eval: bits/dim ..."), left out under --quiet.
// Not for warnings: those must be seen whatever the switch says.
void note(const std::string& line);

class Progress {
 public:
  // total: steps expected (0 if unknown); label: "epoch 1/3". Off a
  // terminal a line is printed each time `done` passes a multiple of
  // plain_every. unit names what is counted ("image": "images/s").
  Progress(std::string label, int64_t total, int64_t plain_every = 100, std::string unit = "step");
  // Reports step `done` (1-based) with a status such as "loss 251.3".
  void update(int64_t done, const std::string& status);
  // The same with the status made only when the line is drawn (about ten
  // times a second on a terminal, every plain_every steps otherwise): making
  // it may mean reading a loss back from the GPU.
  void update(int64_t done, const std::function<std::string()>& status);
  // Ends the line (terminal) and prints a summary with the elapsed time.
  void finish(const std::string& status);
  double elapsed_seconds() const;
  double rate() const;  // steps (units) per second so far

 private:
  std::string label_, unit_;
  int64_t total_, plain_every_, done_ = 0, printed_ = 0;
  bool tty_;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

// A progress bar that learns its total from the first report (the samplers
// and the bound call back with (done, total)).
class LazyProgress {
 public:
  explicit LazyProgress(std::string label) : label_(std::move(label)) {}
  std::function<void(int64_t, int64_t)> callback() {
    return [this](int64_t done, int64_t total) {
      if (!bar_) bar_ = std::make_unique<Progress>(label_, total, std::max<int64_t>(1, total / 4));
      bar_->update(done, "");
    };
  }
  void finish(const std::string& status) {
    if (bar_) bar_->finish(status);
  }
  double elapsed_seconds() const { return bar_ ? bar_->elapsed_seconds() : 0.0; }

 private:
  std::string label_;
  std::unique_ptr<Progress> bar_;
};

// "1m05s", "42s", "1h02m".
std::string format_duration(double seconds);

}  // namespace ng::tools
