// argmax, gather, index_select, masked_fill, nll_loss and cross_entropy
// (engine/ops/index.h, engine/ops/loss.h): values by hand, what they refuse,
// and float64 gradient checks to second order. PyTorch parity is in
// test_ops_parity.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "engine/nanogen.h"
#include "support/gradcheck.h"

using namespace ng;
using Ins = std::vector<Tensor>;
using V = std::vector<float>;

namespace {

Tensor f32(const V& v, const Shape& s) { return from_vector(v, s); }

}  // namespace

TEST(Index, ArgmaxTakesTheFirstMaximumAndCountsNanAsLargest) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const Tensor x = f32({1, 5, 5, 0,  //
                        2, -1, nan, 7, //
                        -3, -3, -3, -4},
                       {3, 4});
  EXPECT_EQ(argmax(x, 1).to_vector<float>(), (V{1, 2, 0}));
  EXPECT_EQ(argmax(x, 1, true).shape(), (Shape{3, 1}));
  EXPECT_EQ(argmax(x, 0).to_vector<float>(), (V{1, 0, 1, 1}));
  EXPECT_EQ(argmax(x, -2).to_vector<float>(), (V{1, 0, 1, 1}));
  EXPECT_EQ(argmax(x).item(), 6.0);  // the NaN, flattened
  EXPECT_EQ(argmax(x).shape(), Shape{});
  EXPECT_EQ(argmax(full({}, 3.0)).item(), 0.0);
  EXPECT_EQ(argmax(full({2, 3}, -1.0), 1).to_vector<float>(), (V{0, 0}));  // all tied: the first
  // A middle dim of a 3-d tensor: [outer 2, n 3, inner 2].
  const Tensor y = f32({0, 9, 1, 8, 2, 7, /**/ 5, 0, 5, 1, 4, 1}, {2, 3, 2});
  EXPECT_EQ(argmax(y, 1).to_vector<float>(), (V{2, 0, 0, 1}));
  EXPECT_FALSE(argmax(y.clone().requires_grad_(), 1).requires_grad());
  test::expect_error([] { argmax(zeros({2, 0}), 1); }, {"argmax", "empty"});
  test::expect_error([] { argmax(zeros({2, 3}), 2); }, {"argmax"});
}

TEST(Index, GatherPicksAlongOneDimAndAddsGradientsBack) {
  const Tensor x = f32({1, 2, 3, 4, 5, 6}, {2, 3}).requires_grad_();
  const Tensor index = index_tensor({2, 2, 0, /**/ 1, 0, 0}, {2, 3});
  const Tensor out = gather(x, 1, index);
  EXPECT_EQ(out.to_vector<float>(), (V{3, 3, 1, 5, 4, 4}));
  // Repeated picks add up in the gradient.
  sum(out * f32({1, 10, 100, 1, 10, 100}, {2, 3})).backward();
  EXPECT_EQ(x.grad().to_vector<float>(), (V{100, 0, 11, 110, 1, 0}));
  // Along dim 0, with an index smaller than x in the other dim.
  EXPECT_EQ(gather(x.detach(), 0, index_tensor({1, 0}, {1, 2})).to_vector<float>(), (V{4, 2}));
  // A float64 index on a float32 input, and the argmax idiom: gather(x, argmax) is the max.
  const Tensor m = test::uniform({4, 5, 3}, 1, -1, 1, DType::f32);
  test::expect_close(gather(m, 1, argmax(m, 1, true).to(DType::f64)).squeeze(1), max(m, {1}), 0);
}

TEST(Index, GatherRefusesBadIndices) {
  const Tensor x = zeros({2, 3});
  test::expect_error([&] { gather(x, 1, from_vector(V{0.5f, 1}, {2, 1})); }, {"gather", "0.5", "whole number"});
  test::expect_error([&] { gather(x, 1, index_tensor({0, 3}, {2, 1})); }, {"gather", "index 3", "[0, 3)"});
  test::expect_error([&] { gather(x, 1, index_tensor({-1, 0}, {2, 1})); }, {"gather", "-1"});
  test::expect_error([&] { gather(x, 1, index_tensor({0, 1})); }, {"gather", "as many dims"});
  test::expect_error([&] { gather(x, 1, index_tensor({0, 1, 0}, {3, 1})); }, {"gather", "larger than input"});
  test::expect_error([&] { index_select(x, 0, index_tensor({0}, {1, 1})); }, {"index_select", "1-d"});
  test::expect_error([] { index_tensor({1, 2, 3}, {2, 2}); }, {"index_tensor", "3 indices", "[2,2]"});
}

TEST(Index, IndexSelectTakesWholeSlices) {
  const Tensor x = f32({1, 2, 3, 4, 5, 6}, {3, 2});
  EXPECT_EQ(index_select(x, 0, index_tensor({2, 0, 2})).to_vector<float>(), (V{5, 6, 1, 2, 5, 6}));
  EXPECT_EQ(index_select(x, 1, index_tensor({1})).to_vector<float>(), (V{2, 4, 6}));
  const Tensor w = x.clone().requires_grad_();
  sum(index_select(w, 0, index_tensor({2, 0, 2}))).backward();
  EXPECT_EQ(w.grad().to_vector<float>(), (V{1, 1, 0, 0, 2, 2}));
}

TEST(Index, MaskedFillReplacesWhereTheMaskIsSet) {
  const Tensor x = f32({1, 2, 3, 4, 5, 6}, {2, 3}).requires_grad_();
  const Tensor mask = f32({1, 0, 1}, {3});  // broadcast over the rows
  const Tensor y = masked_fill(x, mask, -INFINITY);
  EXPECT_EQ(y.to_vector<float>(), (V{-INFINITY, 2, -INFINITY, -INFINITY, 5, -INFINITY}));
  sum(masked_fill(x, mask, 7.0)).backward();
  EXPECT_EQ(x.grad().to_vector<float>(), (V{0, 1, 0, 0, 1, 0}));
  test::expect_error([&] { masked_fill(x, zeros({4}), 0); }, {"masked_fill", "[4]"});
  test::expect_error([&] { masked_fill(zeros({3}), zeros({2, 3}), 0); }, {"masked_fill", "does not broadcast"});
}

TEST(Index, NllLossByHand) {
  // log-probabilities of 3 rows over 4 classes; targets 1, 3 and ignored.
  const Tensor lp = f32({-1, -2, -3, -4, -5, -6, -7, -8, -9, -10, -11, -12}, {3, 4});
  const Tensor t = index_tensor({1, 3, -100});
  EXPECT_FLOAT_EQ(nll_loss(lp, t).item(), (2.0 + 8.0) / 2.0);  // the ignored row is not counted
  EXPECT_FLOAT_EQ(nll_loss(lp, t, Reduction::sum).item(), 10.0);
  EXPECT_EQ(nll_loss(lp, t, Reduction::none).to_vector<float>(), (V{2, 8, 0}));
  const Tensor w = f32({1, 0.5f, 1, 3}, {4});
  EXPECT_FLOAT_EQ(nll_loss(lp, t, Reduction::mean, w).item(), (0.5 * 2 + 3 * 8) / (0.5 + 3));
  EXPECT_FLOAT_EQ(nll_loss(lp, index_tensor({1, 3, 0}), Reduction::sum, {}, 3).item(), 2.0 + 9.0);
  EXPECT_TRUE(std::isnan(nll_loss(lp, index_tensor({-100, -100, -100})).item()));  // 0 / 0, as in PyTorch
  // [C] with a scalar target, and [N, C, d] with [N, d].
  EXPECT_FLOAT_EQ(nll_loss(f32({-1, -2, -3}, {3}), index_tensor({2}, Shape{})).item(), 3.0);
  const Tensor spatial = f32({-1, -2, -3, -4}, {1, 2, 2});  // classes along dim 1, 2 positions
  EXPECT_EQ(nll_loss(spatial, index_tensor({1, 0}, {1, 2}), Reduction::none).to_vector<float>(), (V{3, 2}));
  test::expect_error([&] { nll_loss(lp, index_tensor({1, 4, 0})); }, {"nll_loss", "target 4", "[0, 4)"});
  test::expect_error([&] { nll_loss(lp, index_tensor({1, 2})); }, {"nll_loss", "[2]", "[3]"});
  test::expect_error([&] { nll_loss(lp, t, Reduction::mean, zeros({3})); }, {"nll_loss", "weight", "[4]"});
}

TEST(Index, IgnoredRowsAndEmptyBatchesAreHandledAsPyTorchDoes) {
  // An ignored row may hold -inf (a masked class): it still contributes
  // nothing, to the loss and to the gradient.
  const Tensor lp = f32({-INFINITY, -1, -2, -INFINITY, -3, -4}, {2, 3}).requires_grad_();
  const Tensor loss = nll_loss(lp, index_tensor({-100, 2}));
  EXPECT_FLOAT_EQ(loss.item(), 4.0);
  loss.backward();
  EXPECT_EQ(lp.grad().to_vector<float>(), (V{0, 0, 0, 0, 0, -1}));
  // Empty batches and empty picks: empty results, no crash.
  EXPECT_EQ(gather(zeros({2, 3}), 1, index_tensor({}, {0, 3})).shape(), (Shape{0, 3}));
  EXPECT_EQ(gather(zeros({2, 3}), 1, index_tensor({}, {2, 0})).shape(), (Shape{2, 0}));
  EXPECT_EQ(index_select(zeros({0, 4}), 1, index_tensor({3, 1})).shape(), (Shape{0, 2}));
  EXPECT_EQ(nll_loss(zeros({0, 4}), index_tensor({}), Reduction::sum).item(), 0.0);
  EXPECT_TRUE(std::isnan(cross_entropy(zeros({0, 4}), index_tensor({})).item()));  // 0 / 0, as in PyTorch
  const Tensor x = zeros({2, 3}).requires_grad_();
  sum(gather(x, 1, index_tensor({}, {2, 0}))).backward();
  EXPECT_EQ(x.grad().to_vector<float>(), (V{0, 0, 0, 0, 0, 0}));
}

TEST(Index, CrossEntropyIsNllOfLogSoftmaxAndTakesProbabilities) {
  const Tensor logits = test::uniform({5, 4}, 3, -3, 3);
  const Tensor t = index_tensor({0, 3, 3, 1, 2}, TensorOptions{}.with_dtype(DType::f64));
  test::expect_close(cross_entropy(logits, t), nll_loss(log_softmax(logits, 1), t), 1e-15);
  // By hand for one row: logsumexp(z) - z_t.
  const std::vector<double> z = logits.to_vector<double>();
  double lse = 0;
  for (int c = 0; c < 4; ++c) lse += std::exp(z[size_t(c)]);
  EXPECT_NEAR(cross_entropy(logits, t, Reduction::none).to_vector<double>()[0], std::log(lse) - z[0], 1e-14);
  // One-hot probabilities give the class-target loss.
  std::vector<double> onehot(20, 0.0);
  for (int i = 0; i < 5; ++i) onehot[size_t(i * 4) + size_t(t.to_vector<double>()[size_t(i)])] = 1.0;
  test::expect_close(cross_entropy(logits, from_vector(onehot, {5, 4})), cross_entropy(logits, t), 1e-15);
  // Large logits stay finite.
  EXPECT_NEAR(cross_entropy(f32({1000, 0}, {1, 2}), index_tensor({1})).item(), 1000.0, 1e-3);
}

TEST(Index, GradientsCheckAgainstCentralDifferences) {
  using test::expect_gradcheck;
  using test::expect_gradgradcheck;
  using test::leaf;
  const TensorOptions f64 = TensorOptions{}.with_dtype(DType::f64);
  const Tensor pick = index_tensor({0, 2, 2, 1, 1, 1, 0, 0}, {2, 4}, f64);
  const Tensor classes = index_tensor({2, 0, -100, 2}, f64);
  const Tensor weight = from_vector(std::vector<double>{0.5, 2.0, 1.5}, {3});
  const Tensor probs = softmax(test::uniform({4, 3}, 5), 1);
  const std::vector<std::pair<const char*, test::TensorFn>> ops = {
      {"gather", [&](const Ins& in) { return square(gather(in[0], 1, pick)); }},
      {"index_select", [&](const Ins& in) { return square(index_select(in[0], 1, index_tensor({2, 0, 2}, f64))); }},
      {"masked_fill", [&](const Ins& in) { return square(masked_fill(in[0], gt(in[0].detach(), 0.0), 2.0)); }},
      {"nll_loss", [&](const Ins& in) { return nll_loss(in[0].narrow(0, 0, 4).narrow(1, 0, 3), classes); }},
      {"cross_entropy", [&](const Ins& in) {
         return cross_entropy(in[0].narrow(0, 0, 4).narrow(1, 0, 3), classes, Reduction::mean, weight);
       }},
      {"cross_entropy_probs", [&](const Ins& in) {
         return cross_entropy(in[0].narrow(0, 0, 4).narrow(1, 0, 3), probs, Reduction::sum, weight);
       }},
  };
  for (const auto& [name, f] : ops) {
    SCOPED_TRACE(name);
    expect_gradcheck(f, {leaf({4, 4}, 51, -2, 2)});
    expect_gradcheck(f, {test::leaf_nc({4, 4}, 52, -2, 2)});
    // nll_loss is linear in its input: its second derivative is 0 and not recorded.
    if (std::string(name) != "nll_loss") expect_gradgradcheck(f, {leaf({4, 4}, 53, -2, 2)});
  }
}
