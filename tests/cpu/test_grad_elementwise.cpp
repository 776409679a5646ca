// Float64 gradient checks of every pointwise op and activation, with
// broadcasting and non-contiguous inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "engine/nanogen.h"
#include "support/gradcheck.h"

using namespace ng;
using test::expect_gradcheck;
using test::expect_gradgradcheck;
using test::non_contiguous;
using test::expect_error;
using test::leaf;
using test::leaf_nc;
using test::uniform;
using Ins = std::vector<Tensor>;


// Binary ops over broadcasting shapes, contiguous and not.
#define BINARY_GRADCHECK(name, expr, lo, hi)                                         \
  TEST(GradElementwise, name) {                                                      \
    auto f = [](const Ins& in) { const Tensor &a = in[0], &b = in[1]; return expr; }; \
    expect_gradcheck(f, {leaf({3, 4}, 1, lo, hi), leaf({3, 4}, 2, lo, hi)});         \
    expect_gradcheck(f, {leaf({2, 1, 4}, 3, lo, hi), leaf({3, 1}, 4, lo, hi)});      \
    expect_gradcheck(f, {leaf_nc({4, 3}, 5, lo, hi), leaf_nc({4, 3}, 6, lo, hi)});   \
    expect_gradcheck(f, {leaf({}, 7, lo, hi), leaf_nc({2, 3}, 8, lo, hi)});          \
  }

BINARY_GRADCHECK(Add, a + b, -1, 1)
BINARY_GRADCHECK(Sub, a - b, -1, 1)
BINARY_GRADCHECK(Mul, a * b, -1, 1)
BINARY_GRADCHECK(Div, a / b, 0.5, 2)
BINARY_GRADCHECK(Maximum, maximum(a, b), -1, 1)
BINARY_GRADCHECK(Minimum, minimum(a, b), -1, 1)

// Unary ops on a contiguous, a non-contiguous and a broadcast (stride-0,
// expanded) input, over a safe domain. The broadcast case checks that the op
// reads a repeated element correctly and that its gradient, flowing back
// through expand, is summed over the copies.
#define UNARY_GRADCHECK(name, expr, lo, hi)                                                       \
  TEST(GradElementwise, name) {                                                                   \
    auto f = [](const Ins& in) { const Tensor& x = in[0]; return expr; };                         \
    auto f_broadcast = [](const Ins& in) { const Tensor x = in[0].expand({3, 4}); return expr; }; \
    expect_gradcheck(f, {leaf({2, 3, 4}, 11, lo, hi)});                                           \
    expect_gradcheck(f, {leaf_nc({5, 3}, 12, lo, hi)});                                           \
    expect_gradcheck(f_broadcast, {leaf({3, 1}, 13, lo, hi)});                                    \
  }

UNARY_GRADCHECK(Neg, -x, -1, 1)
UNARY_GRADCHECK(Exp, exp(x), -2, 2)
UNARY_GRADCHECK(Log, log(x), 0.2, 3)
UNARY_GRADCHECK(Log1p, log1p(x), -0.5, 3)
UNARY_GRADCHECK(Expm1, expm1(x), -2, 2)
UNARY_GRADCHECK(Sqrt, sqrt(x), 0.2, 3)
UNARY_GRADCHECK(Square, square(x), -2, 2)
UNARY_GRADCHECK(Reciprocal, reciprocal(x), 0.5, 2)
UNARY_GRADCHECK(PowScalar, pow(x, 2.5), 0.2, 2)
UNARY_GRADCHECK(Abs, abs(x), -1, 1)
UNARY_GRADCHECK(Sin, sin(x), -3, 3)
UNARY_GRADCHECK(Cos, cos(x), -3, 3)
UNARY_GRADCHECK(Floor, floor(x * 2.0) * x, -3, 3)  // d/dx = floor(2x): floor's own gradient is 0
UNARY_GRADCHECK(Clamp, clamp(x, -0.5, 0.4), -1, 1)
UNARY_GRADCHECK(ScalarArithmetic, (x * 3.0 + 2.0) / 4.0 - 1.0, -1, 1)
UNARY_GRADCHECK(ScalarRsub, 2.0 - x, -1, 1)
UNARY_GRADCHECK(Relu, relu(x), -1, 1)
UNARY_GRADCHECK(LeakyRelu, leaky_relu(x, 0.2), -1, 1)
UNARY_GRADCHECK(Sigmoid, sigmoid(x), -4, 4)
UNARY_GRADCHECK(Tanh, tanh(x), -3, 3)
UNARY_GRADCHECK(Silu, silu(x), -4, 4)
UNARY_GRADCHECK(Softplus, softplus(x), -30, 30)
UNARY_GRADCHECK(LogSigmoid, log_sigmoid(x), -30, 30)

TEST(GradElementwise, Where) {
  const Tensor cond = gt(uniform({3, 4}, 21), scalar_tensor(0, TensorOptions{}.with_dtype(DType::f64)));
  expect_gradcheck([&](const Ins& in) { return where(cond, in[0], in[1]); }, {leaf({3, 4}, 22), leaf({4}, 23)});
  expect_gradcheck([&](const Ins& in) { return where(cond, in[0], in[1]); },
                   {leaf_nc({3, 4}, 24), leaf({}, 25)});
}

TEST(GradElementwise, SecondOrder) {
  auto f = [](const Ins& in) { return sigmoid(in[0]) * tanh(in[1]) + softplus(in[0] * in[1]) + silu(in[1]); };
  expect_gradgradcheck(f, {leaf({2, 3}, 31), leaf({2, 3}, 32)});
  expect_gradgradcheck([](const Ins& in) { return leaky_relu(in[0], 0.2) * in[0] / (in[0] * in[0] + 1.0); },
                       {leaf({5}, 33)});
  expect_gradgradcheck([](const Ins& in) { return log_sigmoid(in[0]) + sqrt(exp(in[0])); }, {leaf({4}, 34)});
}

// floor is the C library's on every kind of value: whole numbers (both
// signs of zero kept), fractions of either sign, halves, huge values,
// infinities and NaN.
TEST(Elementwise, FloorIsTheLibrarysFloor) {
  const double inf = std::numeric_limits<double>::infinity(), nan = std::nan("");
  const std::vector<double> v = {-2.5, -1.0, -0.25, -0.0, 0.0, 0.25, 0.5, 2.999999, 3.0, 1e300, -1e300, inf, -inf, nan};
  for (DType dt : {DType::f64, DType::f32}) {
    const std::vector<double> got = floor(from_vector(v, {int64_t(v.size())}).to(dt)).to(DType::f64).to_vector<double>();
    for (size_t i = 0; i < v.size(); ++i) {
      const double want = dt == DType::f64 ? std::floor(v[i]) : double(std::floor(float(v[i])));
      if (std::isnan(want)) {
        EXPECT_TRUE(std::isnan(got[i])) << v[i];
      } else {
        EXPECT_EQ(got[i], want) << v[i] << " in " << dtype_name(dt);
        EXPECT_EQ(std::signbit(got[i]), std::signbit(want)) << v[i];
      }
    }
  }
}

TEST(Elementwise, StableAtExtremes) {
  const Tensor x = from_vector(std::vector<double>{-1000, -50, 0, 50, 1000}, {5});
  const std::vector<double> sp = softplus(x).to_vector<double>();
  EXPECT_EQ(sp[0], 0.0);
  EXPECT_DOUBLE_EQ(sp[4], 1000.0);
  EXPECT_DOUBLE_EQ(sp[2], std::log(2.0));
  const std::vector<double> ls = log_sigmoid(x).to_vector<double>();
  EXPECT_DOUBLE_EQ(ls[0], -1000.0);
  EXPECT_EQ(ls[4], 0.0);
  const std::vector<double> s = sigmoid(x).to_vector<double>();
  EXPECT_EQ(s[0], 0.0);
  EXPECT_EQ(s[4], 1.0);
  for (double v : sp) EXPECT_FALSE(std::isnan(v));
}

// On the CPU leaky_relu with a slope in (0, 1] is computed as the larger of x
// and x * slope (so the loop vectorises); every slope must give the branch
// form's bits, x > 0 ? x : x * slope,
// for every input (signed zeros, infinities, NaN, denormals) and slope
// (including 1, above 1 and negative), in float32 and float64, on a long
// contiguous tensor (the vector path) and a strided view.
TEST(Elementwise, LeakyReluIsTheBranchFormBitForBit) {
  const double specials[] = {0.0, -0.0, 1.0, -1.0, INFINITY, -INFINITY, NAN, 1e-310, -1e-310, 3e38, -3e38};
  for (DType dt : {DType::f32, DType::f64})
    for (double slope : {0.2, 0.01, 1.0, 1.5, -0.5, 0.0}) {
      std::vector<double> v(std::begin(specials), std::end(specials));
      const std::vector<double> noise = uniform({1000}, 11, -3, 3).to_vector<double>();
      v.insert(v.end(), noise.begin(), noise.end());
      const Tensor x = from_vector(v, {int64_t(v.size())}).to(dt);
      for (const Tensor& in : {x, non_contiguous(x.reshape({1011, 1}).expand({1011, 2})).select(1, 1)}) {
        const Tensor y = leaky_relu(in, slope);
        if (dt == DType::f32) {
          const std::vector<float> xs = in.contiguous().to_vector<float>(), ys = y.to_vector<float>();
          for (size_t i = 0; i < xs.size(); ++i) {
            const float want = xs[i] > 0 ? xs[i] : xs[i] * float(slope);
            ASSERT_EQ(std::memcmp(&ys[i], &want, sizeof want), 0) << xs[i] << " slope " << slope;
          }
        } else {
          const std::vector<double> xs = in.contiguous().to_vector<double>(), ys = y.to_vector<double>();
          for (size_t i = 0; i < xs.size(); ++i) {
            const double want = xs[i] > 0 ? xs[i] : xs[i] * slope;
            ASSERT_EQ(std::memcmp(&ys[i], &want, sizeof want), 0) << xs[i] << " slope " << slope;
          }
        }
      }
    }
}

TEST(Elementwise, ComparisonsAndMasks) {
  const Tensor a = from_vector(std::vector<float>{1, 2, 3}, {3});
  const Tensor b = from_vector(std::vector<float>{3, 2, 1}, {3});
  EXPECT_EQ(gt(a, b).to_vector<float>(), (std::vector<float>{0, 0, 1}));
  EXPECT_EQ(le(a, b).to_vector<float>(), (std::vector<float>{1, 1, 0}));
  EXPECT_EQ(eq(a, b).to_vector<float>(), (std::vector<float>{0, 1, 0}));
  EXPECT_EQ(lt(a, 2.5).to_vector<float>(), (std::vector<float>{1, 1, 0}));
  EXPECT_EQ(where(gt(a, 1.5), a, b).to_vector<float>(), (std::vector<float>{3, 2, 3}));
}

TEST(Elementwise, InPlaceUpdates) {
  Tensor a = ones({2, 3});
  add_(a, arange(3), 2.0);
  EXPECT_EQ(a.to_vector<float>(), (std::vector<float>{1, 3, 5, 1, 3, 5}));
  mul_(a, 0.5);
  EXPECT_EQ(a.to_vector<float>(), (std::vector<float>{0.5, 1.5, 2.5, 0.5, 1.5, 2.5}));
  EXPECT_THROW(add_(a, ones({4})), Error);
}

// silu's backward is an op of its own (one derivative kernel for its value);
// its own backward must be right to every order, as a gradient penalty through
// a U-Net differentiates it again.
TEST(GradElementwise, SiluBackwardIsItselfDifferentiable) {
  const Tensor g = leaf({3, 4}, 41), x = leaf({3, 4}, 42, -4, 4);
  const Tensor s = sigmoid(x);
  test::expect_close(silu_backward(g, x), g * s * (x * (1.0 - s) + 1.0), 1e-14, 1e-13);
  auto f = [](const Ins& in) { return silu_backward(in[0], in[1]); };
  expect_gradcheck(f, {g, x});
  expect_gradgradcheck(f, {g, x});  // the third derivative of silu
}
