// softmax and log_softmax: values by hand and by definition, stability for
// huge logits, float64 gradient checks along every dim (first and second
// order, contiguous and not), and the backward as an op of its own.
#include <gtest/gtest.h>

#include <cmath>
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


}  // namespace

TEST(Softmax, ValuesByHand) {
  const Tensor x = from_vector(std::vector<double>{1, 2, 3, 0, 0, 0}, {2, 3});
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  expect_close(softmax(x, 1),
               from_vector(std::vector<double>{std::exp(1.0) / z, std::exp(2.0) / z, std::exp(3.0) / z, 1.0 / 3,
                                               1.0 / 3, 1.0 / 3},
                           {2, 3}),
               1e-15);
  expect_close(log_softmax(x, -1),
               from_vector(std::vector<double>{1 - std::log(z), 2 - std::log(z), 3 - std::log(z), -std::log(3.0),
                                               -std::log(3.0), -std::log(3.0)},
                           {2, 3}),
               1e-14);
  // Along dim 0 each column is a pair (a, b): softmax = (e^a, e^b) / (e^a + e^b).
  const std::vector<double> s0 = softmax(x, 0).to_vector<double>();
  EXPECT_NEAR(s0[0], std::exp(1.0) / (std::exp(1.0) + 1), 1e-15);
  EXPECT_NEAR(s0[5], 1 / (std::exp(3.0) + 1), 1e-15);
}

TEST(Softmax, SumsToOneAlongEveryDim) {
  const Tensor x = uniform({3, 4, 5}, 1, -5, 5);
  for (int64_t dim : {0, 1, 2, -1, -2, -3}) {
    SCOPED_TRACE(dim);
    const Tensor y = softmax(x, dim);
    Shape reduced = x.shape();
    reduced.erase(reduced.begin() + (dim < 0 ? dim + 3 : dim));
    expect_close(sum(y, {dim}), ones(reduced, f64), 1e-14);
    expect_close(log_softmax(x, dim), log(y), 1e-13);
    for (double v : y.to_vector<double>()) EXPECT_GT(v, 0.0);
  }
  // Non-contiguous input gives the same values.
  const Tensor xn = non_contiguous(x);
  expect_close(softmax(xn, 1), softmax(x, 1), 0);
  expect_close(log_softmax(xn, 0), log_softmax(x, 0), 0);
}

TEST(Softmax, StableForHugeLogits) {
  for (DType dt : {DType::f32, DType::f64}) {
    SCOPED_TRACE(dtype_name(dt));
    const Tensor x = from_vector(std::vector<double>{1e4, -1e4, 0, 1e4}, {4}).to(dt).requires_grad_();
    const Tensor y = softmax(x, 0);
    expect_close(y, from_vector(std::vector<double>{0.5, 0, 0, 0.5}, {4}), 1e-7);
    const Tensor ly = log_softmax(x, 0);
    const double l2 = std::log(2.0);
    expect_close(ly, from_vector(std::vector<double>{-l2, -2e4 - l2, -1e4 - l2, -l2}, {4}), 1e-6, 1e-7);
    const Tensor w = from_vector(std::vector<double>{1, 2, 3, 4}, {4}).to(dt);
    const Ins g = autograd::grad({sum(y * w) + sum(ly * w)}, {x});
    // d/dx of sum(w * softmax): y * (w - sum(w y)) = [0.5 (1 - 2.5), 0, 0, 0.5 (4 - 2.5)];
    // of sum(w * log_softmax): w - y sum(w) = [1 - 5, 2, 3, 4 - 5].
    expect_close(g[0], from_vector(std::vector<double>{-0.75 - 4, 2, 3, 0.75 - 1}, {4}), 1e-5);
    const Tensor all_minus = full({3}, -1e4, TensorOptions{}.with_dtype(dt));
    expect_close(softmax(all_minus, 0), full({3}, 1.0 / 3, f64), 1e-7);
  }
}

TEST(Softmax, ZeroDimTensor) {
  const Tensor x = scalar_tensor(7.5, f64);
  EXPECT_EQ(softmax(x, 0).item(), 1.0);
  EXPECT_EQ(log_softmax(x, -1).item(), 0.0);
  expect_gradcheck([](const Ins& in) { return softmax(in[0], 0) * in[0]; }, {leaf({}, 2)});
}

TEST(Softmax, Gradcheck) {
  for (int64_t dim : {0, 1, -1}) {
    SCOPED_TRACE(dim);
    expect_gradcheck([dim](const Ins& in) { return softmax(in[0], dim); }, {leaf({3, 4, 2}, 10)});
    expect_gradcheck([dim](const Ins& in) { return log_softmax(in[0], dim); }, {leaf({3, 4, 2}, 11)});
    expect_gradcheck([dim](const Ins& in) { return softmax(in[0], dim); }, {leaf_nc({4, 3}, 12)});
    expect_gradcheck([dim](const Ins& in) { return log_softmax(in[0], dim); }, {leaf_nc({3, 2, 4}, 13)});
  }
}

TEST(Softmax, SecondOrder) {
  for (int64_t dim : {0, -1}) {
    SCOPED_TRACE(dim);
    expect_gradgradcheck([dim](const Ins& in) { return softmax(in[0], dim); }, {leaf({2, 3}, 20)});
    expect_gradgradcheck([dim](const Ins& in) { return log_softmax(in[0], dim); }, {leaf({2, 3}, 21)});
  }
  expect_gradgradcheck([](const Ins& in) { return softmax(in[0] * in[1], 1) * in[1]; },
                       {leaf_nc({2, 3}, 22), leaf({3}, 23)});
}

// softmax_backward, the backward as an op: its values against its formula,
// and its own first and second derivatives (softmax's second and third).
TEST(Softmax, BackwardOpMatchesItsFormulaAndIsDifferentiable) {
  for (bool log_form : {false, true}) {
    SCOPED_TRACE(log_form);
    for (int64_t dim : {0, 1, 2}) {
      SCOPED_TRACE(dim);
      const Tensor x = uniform({3, 4, 5}, 30), g = uniform({3, 4, 5}, 31);
      const Tensor y = log_form ? log_softmax(x, dim) : softmax(x, dim);
      const Tensor expected = log_form ? g - exp(y) * sum(g, {dim}, true) : y * (g - sum(g * y, {dim}, true));
      expect_close(softmax_backward(g, y, dim, log_form), expected, 1e-15);
    }
    auto backward = [log_form](const Ins& in) { return softmax_backward(in[0], in[1], 1, log_form); };
    expect_gradcheck(backward, {leaf({2, 3}, 32), leaf({2, 3}, 33)});
    expect_gradgradcheck(backward, {leaf({2, 3}, 34), leaf_nc({2, 3}, 35)});
  }
  test::expect_error([] { softmax_backward(zeros({2, 3}), zeros({3, 2}), 1, false); },
                     {"softmax_backward", "[2,3]", "[3,2]"});
}

TEST(Softmax, LargeInputs) {  // 2^15 elements: the kernels run on threads
  const Tensor x = uniform({64, 512}, 40, -5, 5).requires_grad_(), r = uniform({64, 512}, 41);
  for (int64_t dim : {0, 1}) {
    SCOPED_TRACE(dim);
    const Tensor y = softmax(x, dim);
    expect_close(y, exp(x.detach()) / sum(exp(x.detach()), {dim}, true), 1e-14);
    expect_close(log_softmax(x, dim), log(y.detach()), 1e-12);
    const Tensor fused = autograd::grad({sum(softmax(x, dim) * r)}, {x})[0];
    const Tensor composite = autograd::grad({sum(softmax(x, dim) * r)}, {x}, {}, false, true)[0];
    expect_close(fused, composite, 1e-14);
  }
}

TEST(Softmax, Float32MatchesFloat64) {
  const Tensor x = uniform({4, 6}, 50, -3, 3), r = uniform({4, 6}, 51);
  for (bool log_form : {false, true}) {
    auto grad_of = [&](DType dt) {
      const Tensor xd = x.to(dt).detach().requires_grad_();
      const Tensor y = log_form ? log_softmax(xd, 1) : softmax(xd, 1);
      return std::pair{y, autograd::grad({sum(y * r.to(dt))}, {xd})[0]};
    };
    const auto [y32, g32] = grad_of(DType::f32);
    const auto [y64, g64] = grad_of(DType::f64);
    EXPECT_EQ(y32.dtype(), DType::f32);
    expect_close(y32, y64, 1e-6, 1e-6);
    expect_close(g32, g64, 1e-6, 1e-6);
  }
}

TEST(Softmax, DimOutOfRange) {
  try {
    softmax(uniform({2, 3}, 60), 2);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("softmax: dim 2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(log_softmax(uniform({2, 3}, 60), -3), Error);
}
