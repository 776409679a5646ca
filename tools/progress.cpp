#include "tools/progress.h"

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>

namespace ng::tools {

namespace {
// Atomic: eval's feature pass and a sampler may report from worker threads.
std::atomic<bool> g_quiet{false};
}  // namespace

void set_quiet(bool quiet) { g_quiet = quiet; }
bool quiet() { return g_quiet; }

void note(const std::string& line) {
  if (g_quiet) return;
  std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
}

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

Progress::Progress(std::string label, int64_t total, int64_t plain_every, std::string unit)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total), plain_every_(std::max<int64_t>(1, plain_every)),
      tty_(isatty(STDERR_FILENO) != 0),
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

// "12.5 it/s" for steps, "12.5 images/s" for anything else counted.
static std::string rate_text(double r, const std::string& unit) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f %s/s", r, unit == "step" ? "it" : (unit + "s").c_str());
  return buf;
}

void Progress::update(int64_t done, const std::function<std::string()>& status) {
  done_ = done;  // rate() and finish() still count under --quiet
  if (g_quiet) return;
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
    std::fprintf(stderr, "\r\033[K%s [%s] %lld/%lld %s | %s | ETA %s", label_.c_str(), bar.c_str(),
                 (long long)done, (long long)total_, status().c_str(), rate_text(r, unit_).c_str(), eta.c_str());
  } else if (done / plain_every_ > printed_ || done == total_) {  // passing a multiple, even in big strides
    printed_ = done / plain_every_;
    std::fprintf(stderr, "%s %s %lld/%lld %s | %s | ETA %s\n", label_.c_str(), unit_.c_str(), (long long)done,
                 (long long)total_, status().c_str(), rate_text(r, unit_).c_str(), eta.c_str());
  } else {
    return;
  }
  std::fflush(stderr);
}

void Progress::finish(const std::string& status) {
  if (g_quiet) return;
  if (tty_) std::fprintf(stderr, "\r\033[K");
  std::fprintf(stderr, "%s done: %lld %ss in %s (%s) %s\n", label_.c_str(), (long long)done_, unit_.c_str(),
               format_duration(elapsed_seconds()).c_str(), rate_text(rate(), unit_).c_str(), status.c_str());
  std::fflush(stderr);
}

}  // namespace ng::tools
