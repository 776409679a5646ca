// Losses: each against its formula on small explicit numbers, all three
// reductions, float64 gradient checks in every argument (first and second
// order), and the numerically dangerous cases (logits of +-1000).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <numbers>
#include <string>

#include "engine/nanogen.h"
#include "support/gradcheck.h"

using namespace ng;
using test::expect_close;
using test::expect_gradcheck;
using test::expect_gradgradcheck;
using test::non_contiguous;
using test::expect_error;
using test::leaf;
using test::leaf_nc;
using test::uniform;
using Ins = std::vector<Tensor>;

namespace {

const TensorOptions f64 = TensorOptions{}.with_dtype(DType::f64);
const double kLog2Pi = std::log(2 * std::numbers::pi);

Tensor vec(std::vector<double> v) {
  const int64_t n = int64_t(v.size());
  return from_vector(std::move(v), {n});
}

// Checks loss(none) against `expected` elementwise, and mean/sum against
// the mean/sum of `expected`.
template <class F>
void expect_reductions(F&& loss, const std::vector<double>& expected, double tol) {
  const Tensor none = loss(Reduction::none);
  expect_close(none, vec(expected), tol);
  double total = 0;
  for (double v : expected) total += v;
  EXPECT_EQ(loss(Reduction::sum).dim(), 0);
  EXPECT_NEAR(loss(Reduction::sum).item(), total, tol * double(expected.size()));
  EXPECT_NEAR(loss(Reduction::mean).item(), total / double(expected.size()), tol);
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

// ---- mse_loss -------------------------------------------------------------------

TEST(MseLoss, ValuesAndReductions) {
  const Tensor pred = vec({1, 2, 3, 4}), target = vec({0, 2, 5, 1.5});
  expect_reductions([&](Reduction r) { return mse_loss(pred, target, r); }, {1, 0, 4, 6.25}, 1e-15);
  EXPECT_DOUBLE_EQ(mse_loss(pred, target).item(), 11.25 / 4);  // mean by default
}

TEST(MseLoss, Gradcheck) {
  for (Reduction r : {Reduction::none, Reduction::mean, Reduction::sum}) {
    auto f = [r](const Ins& in) { return mse_loss(in[0], in[1], r); };
    expect_gradcheck(f, {leaf({3, 4}, 1), leaf({3, 4}, 2)});
    expect_gradcheck(f, {leaf_nc({4, 3}, 3), leaf({4, 3}, 4)});
  }
  expect_gradgradcheck([](const Ins& in) { return mse_loss(in[0], in[1]); }, {leaf({2, 3}, 5), leaf({2, 3}, 6)});
}

// ---- binary_cross_entropy_with_logits ----------------------------------------------

TEST(BceWithLogits, ValuesAgainstDefinition) {
  const std::vector<double> z = {0, 2, -1, 0.5, -3}, t = {1, 0, 0.5, 0.25, 1};
  std::vector<double> expected;
  for (size_t i = 0; i < z.size(); ++i) {
    const double s = 1 / (1 + std::exp(-z[i]));
    expected.push_back(-(t[i] * std::log(s) + (1 - t[i]) * std::log(1 - s)));
  }
  EXPECT_NEAR(expected[0], std::log(2.0), 1e-15);  // z = 0: log 2 whatever the target
  expect_reductions([&](Reduction r) { return binary_cross_entropy_with_logits(vec(z), vec(t), r); }, expected,
                    1e-14);
}

TEST(BceWithLogits, HugeLogitsAreFiniteAndCorrect) {
  for (DType dt : {DType::f32, DType::f64}) {
    SCOPED_TRACE(dtype_name(dt));
    const Tensor z = vec({1000, -1000, 1000, -1000}).to(dt).requires_grad_();
    const Tensor t = vec({1, 1, 0, 0}).to(dt).requires_grad_();
    const Tensor loss = binary_cross_entropy_with_logits(z, t, Reduction::none);
    expect_close(loss, vec({0, 1000, 1000, 0}), 1e-9);
    const Tensor mean_loss = binary_cross_entropy_with_logits(z, t);
    EXPECT_NEAR(mean_loss.item(), 500.0, 1e-9);
    // d/dz = (sigmoid(z) - t) / 4, d/dt = -z / 4.
    const Ins g = autograd::grad({mean_loss}, {z, t});
    expect_close(g[0], vec({0, -0.25, 0.25, 0}), 1e-12);
    expect_close(g[1], vec({-250, 250, -250, 250}), 1e-9);
  }
}

TEST(BceWithLogits, GradcheckInBothArguments) {
  for (Reduction r : {Reduction::none, Reduction::mean, Reduction::sum}) {
    auto f = [r](const Ins& in) { return binary_cross_entropy_with_logits(in[0], in[1], r); };
    expect_gradcheck(f, {leaf({3, 4}, 10, -5, 5), leaf({3, 4}, 11, 0, 1)});
    expect_gradcheck(f, {leaf_nc({4, 3}, 12, -5, 5), leaf_nc({4, 3}, 13, 0, 1)});
  }
  expect_gradgradcheck([](const Ins& in) { return binary_cross_entropy_with_logits(in[0], in[1]); },
                       {leaf({2, 3}, 14, -3, 3), leaf({2, 3}, 15, 0, 1)});
}

// ---- gaussian_nll ------------------------------------------------------------------

TEST(GaussianNll, IncludesTheConstant) {
  // x = mean, var = 1: only 0.5 log(2 pi) remains.
  const Tensor x = vec({0.3, -2, 5});
  expect_reductions([&](Reduction r) { return gaussian_nll(x, x, ones({3}, f64), r); },
                    {0.5 * kLog2Pi, 0.5 * kLog2Pi, 0.5 * kLog2Pi}, 1e-15);
}

TEST(GaussianNll, ValuesByHand) {
  // x = 3, mean = 1, var = 4: 0.5 (log 2pi + log 4 + 4/4); x = 0, mean = 0.5, var = 0.25: 0.5 (log 2pi + log 0.25 + 1).
  const Tensor x = vec({3, 0}), mu = vec({1, 0.5}), var = vec({4, 0.25});
  expect_reductions([&](Reduction r) { return gaussian_nll(x, mu, var, r); },
                    {0.5 * (kLog2Pi + std::log(4.0) + 1), 0.5 * (kLog2Pi + std::log(0.25) + 1)}, 1e-15);
  // A scalar variance broadcasts over every element.
  const Tensor y = gaussian_nll(vec({1, 2}), vec({0, 0}), scalar_tensor(2.0, f64), Reduction::none);
  expect_close(y, vec({0.5 * (kLog2Pi + std::log(2.0) + 0.5), 0.5 * (kLog2Pi + std::log(2.0) + 2)}), 1e-15);
}

TEST(GaussianNll, GradcheckInEveryArgument) {
  for (Reduction r : {Reduction::none, Reduction::mean, Reduction::sum}) {
    auto f = [r](const Ins& in) { return gaussian_nll(in[0], in[1], in[2], r); };
    expect_gradcheck(f, {leaf({2, 3}, 20), leaf({2, 3}, 21), leaf({2, 3}, 22, 0.5, 2)});
    expect_gradcheck(f, {leaf_nc({3, 2}, 23), leaf({3, 2}, 24), leaf({2}, 25, 0.5, 2)});  // var broadcast
    expect_gradcheck(f, {leaf({2, 3}, 26), leaf({3}, 27), leaf({}, 28, 0.5, 2)});
  }
  expect_gradgradcheck([](const Ins& in) { return gaussian_nll(in[0], in[1], in[2]); },
                       {leaf({2, 2}, 29), leaf({2, 2}, 30), leaf({2}, 31, 0.5, 2)});
}

TEST(GaussianNll, RejectsNonPositiveVariance) {
  const Tensor x = vec({1, 2, 3});
  std::string msg = error_of([&] { gaussian_nll(x, x, vec({1, 0, 2})); });
  EXPECT_NE(msg.find("gaussian_nll: var [3] must be positive"), std::string::npos) << msg;
  msg = error_of([&] { gaussian_nll(x, x, vec({1, -1, 2})); });
  EXPECT_NE(msg.find("smallest value is -1"), std::string::npos) << msg;
  msg = error_of([&] { gaussian_nll(x, vec({1, 2}), ones({3}, f64)); });
  EXPECT_NE(msg.find("[3] and [2]"), std::string::npos) << msg;
}

// ---- kl_normal_std_normal -----------------------------------------------------------

TEST(KlNormal, ClosedForm) {
  // KL(N(m, s^2) || N(0, 1)) = log(1/s) + (s^2 + m^2)/2 - 1/2.
  const std::vector<double> m = {0, 1, 0, -0.5, 2}, s2 = {1, 1, 2, 0.25, 3};
  std::vector<double> logvar, expected;
  for (size_t i = 0; i < m.size(); ++i) {
    logvar.push_back(std::log(s2[i]));
    expected.push_back(-0.5 * std::log(s2[i]) + (s2[i] + m[i] * m[i]) / 2 - 0.5);
  }
  EXPECT_DOUBLE_EQ(expected[1], 0.5);  // unit variance, mean 1
  expect_reductions([&](Reduction r) { return kl_normal_std_normal(vec(m), vec(logvar), r); }, expected, 1e-15);
  // Default reduction: the total; zero exactly at the prior.
  EXPECT_NEAR(kl_normal_std_normal(vec(m), vec(logvar)).item(),
              expected[0] + expected[1] + expected[2] + expected[3] + expected[4], 1e-14);
  EXPECT_EQ(kl_normal_std_normal(zeros({4}, f64), zeros({4}, f64)).item(), 0.0);
  // Accurate near the prior: logvar = 1e-9 gives ~ logvar^2 / 4, not a rounding error.
  EXPECT_NEAR(kl_normal_std_normal(zeros({1}, f64), full({1}, 1e-9, f64)).item(), 0.25e-18, 1e-24);
}

TEST(KlNormal, GradcheckInBothArguments) {
  for (Reduction r : {Reduction::none, Reduction::mean, Reduction::sum}) {
    auto f = [r](const Ins& in) { return kl_normal_std_normal(in[0], in[1], r); };
    expect_gradcheck(f, {leaf({3, 4}, 40), leaf({3, 4}, 41, -2, 2)});
    expect_gradcheck(f, {leaf_nc({4, 3}, 42), leaf_nc({4, 3}, 43, -2, 2)});
  }
  expect_gradgradcheck([](const Ins& in) { return kl_normal_std_normal(in[0], in[1]); },
                       {leaf({2, 3}, 44), leaf({2, 3}, 45)});
}

// ---- shared -------------------------------------------------------------------------

TEST(Losses, Float32MatchesFloat64) {
  const Tensor a = uniform({3, 4}, 50, -3, 3), b = uniform({3, 4}, 51, 0, 1), v = uniform({3, 4}, 52, 0.5, 2);
  for (int which = 0; which < 4; ++which) {
    SCOPED_TRACE(which);
    auto run = [&](DType dt) {
      const Tensor x = a.to(dt).detach().requires_grad_(), y = b.to(dt).detach().requires_grad_();
      const Tensor l = which == 0   ? mse_loss(x, y)
                       : which == 1 ? binary_cross_entropy_with_logits(x, y)
                       : which == 2 ? gaussian_nll(x, y, v.to(dt))
                                    : kl_normal_std_normal(x, y);
      Ins out = autograd::grad({l}, {x, y});
      out.push_back(l);
      return out;
    };
    const Ins lo = run(DType::f32), hi = run(DType::f64);
    for (size_t i = 0; i < lo.size(); ++i) {
      EXPECT_EQ(lo[i].dtype(), DType::f32);
      expect_close(lo[i], hi[i], 1e-6, 1e-6);
    }
  }
}

TEST(Losses, ShapeErrorsNameTheShapes) {
  std::string msg = error_of([] { mse_loss(ones({4, 1}), ones({4})); });
  EXPECT_NE(msg.find("mse_loss: pred [4,1] and target [4]"), std::string::npos) << msg;
  msg = error_of([] { binary_cross_entropy_with_logits(ones({2, 3}), ones({3, 2})); });
  EXPECT_NE(msg.find("logits [2,3] and target [3,2]"), std::string::npos) << msg;
  msg = error_of([] { kl_normal_std_normal(ones({2, 3}), ones({4})); });
  EXPECT_NE(msg.find("[2,3] and [4]"), std::string::npos) << msg;
  msg = error_of([] { mse_loss(ones({3}), ones({3}, f64)); });
  EXPECT_NE(msg.find("dtype mismatch"), std::string::npos) << msg;
}

TEST(Losses, ReduceLoss) {
  const Tensor e = from_vector(std::vector<double>{1, 2, 3, 6}, {2, 2});
  EXPECT_EQ(reduce_loss(e, Reduction::none).shape(), (Shape{2, 2}));
  EXPECT_DOUBLE_EQ(reduce_loss(e, Reduction::sum).item(), 12);
  EXPECT_DOUBLE_EQ(reduce_loss(e, Reduction::mean).item(), 3);
}
