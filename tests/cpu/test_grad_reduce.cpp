// Reductions: sum, mean, max, min over all dims and over chosen dims.
// Float64 gradient checks (keepdim or not, negative dims, non-contiguous
// inputs), the even split of the gradient between tied extrema worked out by
// hand, float32 accuracy (accumulation in double), NaN propagation, errors,
// and second order.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
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
using Dims = std::vector<int64_t>;

namespace {

TensorOptions f64() { return TensorOptions{}.with_dtype(DType::f64); }
std::vector<double> values(const Tensor& t) { return t.to_vector<double>(); }
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();


using Reduction = Tensor (*)(const Tensor&, const Dims&, bool);
using FullReduction = Tensor (*)(const Tensor&);
struct Named {
  const char* name;
  Reduction over_dims;
  FullReduction over_all;
};
const Named kReductions[] = {{"sum", sum, sum}, {"mean", mean, mean}, {"max", max, max}, {"min", min, min}};

}  // namespace

// ---- gradients ---------------------------------------------------------------------

TEST(GradReduce, OverAllDims) {
  for (const Named& r : kReductions) {
    SCOPED_TRACE(r.name);
    auto f = [&](const Ins& in) { return r.over_all(in[0]); };
    expect_gradcheck(f, {leaf({2, 3, 4}, 1)});
    expect_gradcheck(f, {leaf_nc({4, 3}, 2)});
    expect_gradcheck(f, {leaf({}, 3)});
    // An empty list of dims also means all of them.
    expect_gradcheck([&](const Ins& in) { return r.over_dims(in[0], {}, true); }, {leaf({3, 2}, 4)});
  }
}

TEST(GradReduce, OverChosenDims) {
  const std::vector<Dims> dim_sets = {{0}, {1}, {2}, {-1}, {0, 2}, {-3, -1}, {2, 0, 1}};
  for (const Named& r : kReductions) {
    for (const Dims& dims : dim_sets) {
      for (bool keepdim : {false, true}) {
        SCOPED_TRACE(std::string(r.name) + " dims " + shape_str(dims) + (keepdim ? " keepdim" : ""));
        auto f = [&](const Ins& in) { return r.over_dims(in[0], dims, keepdim); };
        expect_gradcheck(f, {leaf({2, 3, 4}, 10)});
        expect_gradcheck(f, {leaf_nc({3, 2, 4}, 11)});
      }
    }
  }
}

TEST(GradReduce, ReducedResultFeedsBroadcastOps) {
  // x - max(x, keepdim) and x / sum(x, keepdim): the shapes softmax and
  // normalisation use.
  expect_gradcheck([](const Ins& in) { return in[0] - max(in[0], {1}, true); }, {leaf({3, 4}, 21)});
  expect_gradcheck([](const Ins& in) { return in[0] / sum(in[0], {-1}, true); },
                   {uniform({3, 4}, 22, 0.5, 1.5).requires_grad_()});
  expect_gradcheck([](const Ins& in) { return mean(in[0], {0, 2}) * min(in[1], {0}); },
                   {leaf_nc({2, 3, 2}, 23), leaf({4, 3}, 24)});
}

// ---- ties: the gradient is shared evenly, checked by hand on [1,3,3,2] ------------------

TEST(GradReduce, MaxTiesShareTheGradientEvenly) {
  // Channel 0: max 5 three times; channel 1: max 7 once; channel 2: all -1.
  Tensor x = from_vector(std::vector<double>{1, 5, 5, 2, 0, 5,  //
                                             7, 1, 2, 3, 4, 6,  //
                                             -1, -1, -1, -1, -1, -1},
                         {1, 3, 3, 2}, f64().with_requires_grad());
  const Tensor m = max(x, {2, 3});
  EXPECT_EQ(m.shape(), (Shape{1, 3}));
  EXPECT_EQ(values(m), (std::vector<double>{5, 7, -1}));
  m.backward(from_vector(std::vector<double>{1, 2, 3}, {1, 3}));
  const double t = 1.0 / 3, s = 0.5;
  expect_close(x.grad(), from_vector(std::vector<double>{0, t, t, 0, 0, t,  //
                                                         2, 0, 0, 0, 0, 0,  //
                                                         s, s, s, s, s, s},
                                     {1, 3, 3, 2}),
               1e-15);
  // keepdim and a negative dim: max over the last dim (pairs).
  x.zero_grad();
  sum(max(x, {-1}, true)).backward();
  expect_close(x.grad(), from_vector(std::vector<double>{0, 1, 1, 0, 0, 1,  //
                                                         1, 0, 0, 1, 0, 1,  //
                                                         .5, .5, .5, .5, .5, .5},
                                     {1, 3, 3, 2}),
               1e-15);
}

TEST(GradReduce, MinTiesShareTheGradientEvenly) {
  Tensor x = from_vector(std::vector<double>{1, 5, 5, 2, 0, 5,  //
                                             7, 1, 2, 3, 4, 6,  //
                                             -1, 1, 2, -1, 0, -1},
                         {1, 3, 3, 2}, f64().with_requires_grad());
  // Over the channels, at each of the 6 positions: columns (1,7,-1) (5,1,1)
  // (5,2,2) (2,3,-1) (0,4,0) (5,6,-1).
  const Tensor m = min(x, {1});
  EXPECT_EQ(m.shape(), (Shape{1, 3, 2}));
  EXPECT_EQ(values(m), (std::vector<double>{-1, 1, 2, -1, 0, -1}));
  sum(m).backward();
  const double h = 0.5;
  expect_close(x.grad(), from_vector(std::vector<double>{0, 0, 0, 0, h, 0,  //
                                                         0, h, h, 0, 0, 0,  //
                                                         1, h, h, 1, h, 1},
                                     {1, 3, 3, 2}),
               1e-15);
  // The global minimum -1 appears three times.
  x.zero_grad();
  min(x).backward();
  const double q = 1.0 / 3;
  expect_close(x.grad(), from_vector(std::vector<double>{0, 0, 0, 0, 0, 0,  //
                                                         0, 0, 0, 0, 0, 0,  //
                                                         q, 0, 0, q, 0, q},
                                     {1, 3, 3, 2}),
               1e-15);
}

// ---- values --------------------------------------------------------------------------------

TEST(Reduce, SmallValuesByHand) {
  const Tensor x = arange(24.0, f64()).reshape({2, 3, 4});
  EXPECT_EQ(sum(x).item(), 276.0);
  EXPECT_EQ(values(sum(x, {1})), (std::vector<double>{12, 15, 18, 21, 48, 51, 54, 57}));
  EXPECT_EQ(sum(x, {1}, true).shape(), (Shape{2, 1, 4}));
  EXPECT_EQ(values(sum(x, {0, -1})), (std::vector<double>{60, 92, 124}));
  EXPECT_EQ(values(mean(x, {2})), (std::vector<double>{1.5, 5.5, 9.5, 13.5, 17.5, 21.5}));
  EXPECT_EQ(values(max(x, {0, 1})), (std::vector<double>{20, 21, 22, 23}));
  EXPECT_EQ(values(min(x, {-2}, true)), (std::vector<double>{0, 1, 2, 3, 12, 13, 14, 15}));
  EXPECT_EQ(max(x).item(), 23.0);
  EXPECT_EQ(min(x).item(), 0.0);
  EXPECT_EQ(sum(x, {0, 1, 2}, true).shape(), (Shape{1, 1, 1}));
  // Non-contiguous input: same values.
  EXPECT_EQ(values(sum(non_contiguous(x), {1})), values(sum(x, {1})));
  // x.transpose(0, 2)[k][j][i] = x[i][j][k] = 12i + 4j + k; its max over k is 12i + 4j + 3.
  EXPECT_EQ(values(max(x.transpose(0, 2), {0})), (std::vector<double>{3, 15, 7, 19, 11, 23}));
  // Zero-dim input and empty inputs.
  EXPECT_EQ(sum(scalar_tensor(4.5)).item(), 4.5);
  EXPECT_EQ(sum(zeros({0, 3})).item(), 0.0);
  EXPECT_EQ(sum(zeros({0, 3}), {0}).to_vector<float>(), (std::vector<float>{0, 0, 0}));
  EXPECT_EQ(max(zeros({0, 3}), {1}).shape(), (Shape{0}));
}

TEST(Reduce, Float32SumsAccumulateInDouble) {
  // 2^20 copies of 0.1f: a float accumulator drifts by about 1%.
  const int64_t n = int64_t(1) << 20;
  const double exact = double(n) * double(0.1f);
  const Tensor x = full({n}, 0.1);
  EXPECT_EQ(x.dtype(), DType::f32);
  EXPECT_FLOAT_EQ(float(sum(x).item()), float(exact));
  EXPECT_FLOAT_EQ(float(mean(x).item()), 0.1f);
  // The same along a dim, for each of two rows, and along a strided dim.
  const Tensor rows = full({2, n / 2}, 0.1);
  for (float v : sum(rows, {1}).to_vector<float>()) EXPECT_FLOAT_EQ(v, float(exact / 2));
  for (float v : sum(rows.t(), {0}).to_vector<float>()) EXPECT_FLOAT_EQ(v, float(exact / 2));
  // Large and small terms: 1 + 2^20 * 2^-24 needs more than float's 24 bits.
  Tensor mixed = full({n + 1}, std::ldexp(1.0, -24));
  {
    NoGradGuard no_grad;
    mixed.narrow(0, 0, 1).fill_(1.0);
  }
  EXPECT_FLOAT_EQ(float(sum(mixed).item()), 1.0625f);
}

TEST(Reduce, MaxAndMinPropagateNaN) {
  const Tensor x = from_vector(std::vector<double>{1, kNaN, 3, 0, 2, -1}, {2, 3});
  EXPECT_TRUE(std::isnan(max(x).item()));
  EXPECT_TRUE(std::isnan(min(x).item()));
  const std::vector<double> row_max = values(max(x, {1}));
  EXPECT_TRUE(std::isnan(row_max[0]));
  EXPECT_EQ(row_max[1], 2.0);
  const std::vector<double> col_min = values(min(x, {0}));
  EXPECT_EQ(col_min[0], 0.0);
  EXPECT_TRUE(std::isnan(col_min[1]));
  EXPECT_EQ(col_min[2], -1.0);
  // NaN first, last, and inside a reduction long enough to run on threads.
  EXPECT_TRUE(std::isnan(max(from_vector(std::vector<double>{kNaN, 1, 2}, {3})).item()));
  EXPECT_TRUE(std::isnan(max(from_vector(std::vector<double>{1, 2, kNaN}, {3})).item()));
  Tensor big = arange(double(1 << 17));
  {
    NoGradGuard no_grad;
    big.narrow(0, 70000, 1).fill_(kNaN);
  }
  EXPECT_TRUE(std::isnan(max(big).item()));
  EXPECT_TRUE(std::isnan(min(big.reshape({4, -1}), {1}).to_vector<float>()[2]));
  EXPECT_FALSE(std::isnan(min(big.reshape({4, -1}), {1}).to_vector<float>()[1]));
}

// ---- errors ---------------------------------------------------------------------------

TEST(Reduce, Errors) {
  const Tensor x = ones({2, 3, 4});
  for (const Named& r : kReductions) {
    SCOPED_TRACE(r.name);
    expect_error([&] { r.over_dims(x, {1, 1}, false); }, {r.name, "dim 1", "twice"});
    expect_error([&] { r.over_dims(x, {1, -2}, false); }, {r.name, "twice"});
    expect_error([&] { r.over_dims(x, {3}, false); }, {r.name, "dim 3", "out of range"});
    expect_error([&] { r.over_dims(x, {-4}, true); }, {r.name, "dim -4", "out of range"});
  }
  expect_error([] { max(zeros({0, 3}), {0}); }, {"max", "empty", "[0,3]"});
  expect_error([] { min(zeros({0})); }, {"min", "empty"});
  expect_error([] { mean(zeros({2, 0}), {1}); }, {"mean", "[2,0]"});
}

// ---- second order ---------------------------------------------------------------------

TEST(GradReduce, SecondOrder) {
  expect_gradgradcheck([](const Ins& in) { return sum(in[0] * in[0]); }, {leaf({2, 3}, 61)});
  expect_gradgradcheck([](const Ins& in) { return mean(in[0] * in[0] * in[0], {1}, true); }, {leaf_nc({3, 2}, 62)});
  expect_gradgradcheck([](const Ins& in) { return max(in[0] * in[0], {0}); }, {leaf({3, 2}, 63)});
  expect_gradgradcheck([](const Ins& in) { return sum(matmul(in[0], in[1]), {0}); },
                       {leaf({2, 3}, 64), leaf({3, 2}, 65)});
}
