#include "tools/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>

namespace ng::tools {

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  const long t = long(std::lround(s));
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t % 3600) / 60);
  else if (t >= 60)
    std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%lds", t);
  return buf;
}

Progress::Progress(std::string label, int64_t total, int64_t plain_every)
    : label_(std::move(label)), total_(total), plain_every_(plain_every), tty_(isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

double Progress::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

double Progress::rate() const {
  const double e = elapsed_seconds();
  return e > 0 ? double(done_) / e : 0.0;
}

void Progress::update(int64_t done, const std::string& status) {
  update(done, [&status] { return status; });
}

void Progress::update(int64_t done, const std::function<std::string()>& status) {
  done_ = done;
  const double r = rate();
  const std::string eta = total_ > 0 && r > 0 ? format_duration(double(total_ - done) / r) : "?";
  if (tty_) {
    const auto now = std::chrono::steady_clock::now();
    if (done != total_ && now - last_draw_ < std::chrono::milliseconds(100)) return;  // ~10 redraws a second
    last_draw_ = now;
    constexpr int kWidth = 24;
    const int filled = total_ > 0 ? int(kWidth * done / total_) : 0;
    std::string bar(size_t(filled), '#');
    bar.resize(kWidth, '.');
    std::fprintf(stderr, "\r\033[K%s [%s] %lld/%lld %s | %.1f it/s | ETA %s", label_.c_str(), bar.c_str(),
                 (long long)done, (long long)total_, status().c_str(), r, eta.c_str());
  } else if (done % plain_every_ == 0 || done == total_) {
    std::fprintf(stderr, "%s step %lld/%lld %s | %.1f it/s | ETA %s\n", label_.c_str(), (long long)done,
                 (long long)total_, status().c_str(), r, eta.c_str());
  } else {
    return;
  }
  std::fflush(stderr);
}

void Progress::finish(const std::string& status) {
  if (tty_) std::fprintf(stderr, "\r\033[K");
  std::fprintf(stderr, "%s done: %lld steps in %s (%.1f it/s) %s\n", label_.c_str(), (long long)done_,
               format_duration(elapsed_seconds()).c_str(), rate(), status.c_str());
  std::fflush(stderr);
}

}  // namespace ng::tools
