// Test helpers: random inputs and the float64 gradient check.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "engine/nanogen.h"

namespace ng::test {

// Uniform in [lo, hi), float64 by default, from a std::mt19937_64 seeded by
// `seed` (independent of the engine's Philox, so tests of one do not rely on
// the other).
Tensor uniform(const Shape& shape, uint64_t seed, double lo = -1.0, double hi = 1.0, DType dtype = DType::f64);

// A float64 leaf that requires grad, uniform in [lo, hi): a gradcheck input.
Tensor leaf(const Shape& shape, uint64_t seed, double lo = -1.0, double hi = 1.0);
// The same, laid out non-contiguously (see non_contiguous).
Tensor leaf_nc(const Shape& shape, uint64_t seed, double lo = -1.0, double hi = 1.0);

// Expects fn() to throw an ng::Error whose message contains every piece
// (error messages must name the op and the shapes involved).
template <class F>
void expect_error(F fn, std::initializer_list<std::string> pieces) {
  try {
    fn();
    ADD_FAILURE() << "expected an ng::Error";
  } catch (const Error& e) {
    for (const std::string& p : pieces)
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << "'" << p << "' not in: " << e.what();
  }
}

// The message of the ng::Error that f throws, or "(no error)".
std::string error_of(const std::function<void()>& f);

// The same values as t in a non-contiguous layout: the data lives in every
// other slot of a larger buffer (and, for 2+ dims, transposed in memory).
Tensor non_contiguous(const Tensor& t);

struct GradcheckOptions {
  double eps = 1e-6;   // central-difference step
  double atol = 1e-7;  // |analytic - numeric| <= atol + rtol * |numeric|
  double rtol = 1e-5;
};

using TensorFn = std::function<Tensor(const std::vector<Tensor>&)>;

// Checks d(sum(f(inputs) * r))/d(input) from autograd against central
// differences, for every element of every input that requires grad; r is a
// fixed random tensor so that every output element matters. Inputs must be
// float64 leaves. Reports each mismatch with the input and element index.
void expect_gradcheck(const TensorFn& f, const std::vector<Tensor>& inputs, GradcheckOptions opt = {});

// Second-order check: the gradients computed with create_graph, contracted
// with a random tensor, differentiated again and compared with central
// differences of the first-order gradients.
void expect_gradgradcheck(const TensorFn& f, const std::vector<Tensor>& inputs, GradcheckOptions opt = {});

// Element-wise comparison with a tolerance; prints the first mismatches.
void expect_close(const Tensor& actual, const Tensor& expected, double atol, double rtol = 0.0);

}  // namespace ng::test
