// One exception type for every user-facing error, and the check macro that
// builds its message. Messages name the op, the values involved and what was
// expected: "conv2d: input [8,3,28,28] has 3 channels, weight [32,1,4,4] expects 1".
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace ng {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
template <class... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

}  // namespace ng

// NG_CHECK(cond, "op: ", a, " expected ", b) throws ng::Error with the pieces
// streamed together when cond is false.
#define NG_CHECK(cond, ...)                                   \
  do {                                                        \
    if (!(cond)) throw ::ng::Error(::ng::detail::concat(__VA_ARGS__)); \
  } while (0)
