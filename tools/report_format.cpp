#include "tools/report_format.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "tools/progress.h"

namespace ng::tools {

const char* const kMissing = "\u2013";

std::string format_fixed(std::optional<double> v, int decimals) {
  if (!v || !std::isfinite(*v)) return kMissing;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, *v);
  return buf;
}

std::string format_significant(std::optional<double> v, int digits) {
  if (!v || !std::isfinite(*v)) return kMissing;
  if (*v == 0) return "0";
  const double magnitude = std::fabs(*v);
  char buf[64];
  if (magnitude < 1e-3 || magnitude >= 1e5) {
    std::snprintf(buf, sizeof buf, "%.*e", digits - 1, *v);
    return buf;
  }
  const int decimals = std::max(0, digits - 1 - int(std::floor(std::log10(magnitude))));
  std::snprintf(buf, sizeof buf, "%.*f", decimals, *v);
  return buf;
}

std::string format_count(std::optional<double> v) {
  if (!v || !std::isfinite(*v)) return kMissing;
  const std::string digits = std::to_string(std::llabs((long long)std::llround(*v)));
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return (*v < 0 ? "-" : "") + out;
}

std::string format_seconds(std::optional<double> v) {
  if (!v || !std::isfinite(*v)) return kMissing;
  if (*v < 10) return format_fixed(v, 1) + "s";  // whole seconds would round short runs to nothing
  return format_duration(*v);
}

}  // namespace ng::tools
