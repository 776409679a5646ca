// Numbers as the comparison report shows them; a missing number is "–".
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace ng::tools {

extern const char* const kMissing;  // "–"

std::string format_fixed(std::optional<double> v, int decimals);
// `digits` significant digits, without an exponent between 1e-3 and 1e5.
std::string format_significant(std::optional<double> v, int digits = 3);
// 3296961 -> "3,296,961".
std::string format_count(std::optional<double> v);
// Seconds as "42s", "5m00s", "1h02m".
std::string format_seconds(std::optional<double> v);

}  // namespace ng::tools
