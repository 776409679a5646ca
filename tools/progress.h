// Progress for long loops: a redrawn bar on a terminal, plain lines
// otherwise (logs, CI). Always on stderr; results go to stdout.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace ng::tools {

class Progress {
 public:
  // total: steps expected (0 if unknown); label: "epoch 1/3".
  Progress(std::string label, int64_t total, int64_t plain_every = 100);
  // Reports step `done` (1-based) with a status such as "loss 251.3".
  void update(int64_t done, const std::string& status);
  // Ends the line (terminal) and prints a summary with the elapsed time.
  void finish(const std::string& status);
  double elapsed_seconds() const;
  double rate() const;  // steps per second so far

 private:
  std::string label_;
  int64_t total_, plain_every_, done_ = 0;
  bool tty_;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

// "1m05s", "42s", "1h02m".
std::string format_duration(double seconds);

}  // namespace ng::tools
