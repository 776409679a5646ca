// Gradients sent while backward runs: autograd::LeafReadyHook says when a
// leaf's gradient is final, dist::GradientBuckets groups the parameters and
// starts each bucket's all-reduce then. The MPI side runs in
// tests/mpi/test_mpi_collectives.cpp; here a stand-in communicator plays a
// second rank that holds the same gradients.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>

#include "engine/dist/gradient_buckets.h"
#include "engine/nanogen.h"
#include "engine/nn/layers.h"

using namespace ng;

namespace {

TensorOptions f64_leaf() { return TensorOptions{}.with_dtype(DType::f64).with_requires_grad(); }

Tensor leaf(std::vector<double> values) {
  const int64_t n = int64_t(values.size());
  return from_vector(values, {n}, f64_leaf());
}

// Two ranks that hold the same gradients: the sum doubles each one. Records
// what each all-reduce carried and which gradients existed when it started.
class TwinRanks final : public dist::Communicator {
 public:
  std::vector<int64_t> numbers_sent;
  std::vector<bool> first_layer_done_at_start;
  Tensor first_layer;

  int rank() const override { return 0; }
  int world_size() const override { return 2; }
  int local_rank() const override { return 0; }
  std::string backend() const override { return "twin"; }
  void all_reduce_sum(const std::vector<Tensor>& tensors) override {
    int64_t n = 0;
    for (const Tensor& t : tensors) {
      Tensor target = t;
      mul_(target, 2.0);
      n += t.numel();
    }
    numbers_sent.push_back(n);
    first_layer_done_at_start.push_back(first_layer.grad().defined());
  }
  void broadcast(const std::vector<Tensor>&, int) override {}
  void barrier() override {}
};

}  // namespace

// x -> *w1 -> tanh -> *w2 (+ w1 again) -> *w3 -> sum. w1 feeds two places:
// its gradient is final only after the second one has been walked.
TEST(LeafReadyHook, ReportsEachLeafOnceWhenItsGradientIsFinal) {
  const Tensor x = leaf({0.5, -1.0}), w1 = leaf({1.5, 0.25}), w2 = leaf({-0.75, 2.0}), w3 = leaf({3.0, 0.5});
  const std::map<const void*, std::string> names = {
      {x.impl().get(), "x"}, {w1.impl().get(), "w1"}, {w2.impl().get(), "w2"}, {w3.impl().get(), "w3"}};
  std::vector<std::string> order;
  std::map<std::string, std::vector<double>> grad_when_reported;
  {
    autograd::LeafReadyHook hook([&](const Tensor& l) {
      const std::string name = names.at(l.impl().get());
      order.push_back(name);
      grad_when_reported[name] = l.grad().to_vector<double>();
    });
    const Tensor h = tanh(x * w1) * w2 + w1;
    sum(h * w3).backward();
  }
  ASSERT_EQ(order.size(), 4u);  // each leaf once
  EXPECT_EQ(order.front(), "w3");  // the last layer's first
  for (const auto& [name, t] : std::map<std::string, Tensor>{{"x", x}, {"w1", w1}, {"w2", w2}, {"w3", w3}})
    EXPECT_EQ(grad_when_reported[name], t.grad().to_vector<double>()) << name << " was reported before it was final";
  // w1's second path (through tanh) is walked after w2's node.
  EXPECT_GT(std::find(order.begin(), order.end(), "w1") - order.begin(),
            std::find(order.begin(), order.end(), "w2") - order.begin());
}

TEST(LeafReadyHook, IsSilentOutsideItsScopeAndForAutogradGrad) {
  const Tensor w = leaf({2.0});
  int reports = 0;
  {
    autograd::LeafReadyHook hook([&](const Tensor&) { ++reports; });
    autograd::grad({sum(w * w)}, {w});
    EXPECT_EQ(reports, 0);
    sum(w * w).backward();
    EXPECT_EQ(reports, 1);
  }
  sum(w * w).backward();
  EXPECT_EQ(reports, 1);
  EXPECT_EQ(w.grad().item(), 8.0);  // two backward passes, accumulated
}

TEST(GradientBuckets, CutsTheParametersInReverseOrderByDtypeAndSize) {
  dist::SingleProcess one;
  const std::vector<Tensor> params = {zeros({10}), zeros({10}), zeros({3}, TensorOptions{}.with_dtype(DType::f64)),
                                      zeros({10}), zeros({10})};  // 40, 40, 24, 40, 40 bytes
  using Buckets = std::vector<std::vector<size_t>>;
  EXPECT_EQ(dist::GradientBuckets(one, params, 80).buckets(), (Buckets{{4, 3}, {2}, {1, 0}}));
  EXPECT_EQ(dist::GradientBuckets(one, params, 100).buckets(), (Buckets{{4, 3}, {2}, {1, 0}}));
  EXPECT_EQ(dist::GradientBuckets(one, params, 40).buckets(), (Buckets{{4}, {3}, {2}, {1}, {0}}));
  EXPECT_EQ(dist::GradientBuckets(one, params, 0).buckets(), (Buckets{{4, 3, 1, 0}, {2}}));
  // A parameter listed twice is sent once (its last listing is kept).
  EXPECT_EQ(dist::GradientBuckets(one, {params[0], params[1], params[0]}, 0).buckets(), (Buckets{{2, 1}}));
}

// A three-layer MLP, a bucket per parameter: every bucket but the first
// layer's starts before the first layer's weight has its gradient, and the
// means equal the gradients of one rank, as two ranks with the same data give.
TEST(GradientBuckets, StartsEachBucketDuringBackwardAndAveragesOverTheRanks) {
  Generator gen(7);
  nn::Linear l1(4, 8, true, gen), l2(8, 8, true, gen), l3(8, 2, true, gen);
  const Tensor x = randn({5, 4}, gen);
  auto loss = [&] { return sum(tanh(l3.forward(tanh(l2.forward(tanh(l1.forward(x))))))); };
  const std::vector<Tensor> params = {l1.weight, l1.bias, l2.weight, l2.bias, l3.weight, l3.bias};

  loss().backward();
  std::vector<std::vector<float>> plain;
  for (Tensor p : params) {
    plain.push_back(p.grad().to_vector<float>());
    p.zero_grad();
  }

  TwinRanks twins;
  twins.first_layer = l1.weight;
  dist::GradientBuckets buckets(twins, params, 1);  // a parameter a bucket
  ASSERT_EQ(buckets.buckets().size(), 6u);
  buckets.backward(loss());
  EXPECT_EQ(twins.numbers_sent, (std::vector<int64_t>{2, 8 * 2, 8, 8 * 8, 8, 4 * 8}));
  const std::vector<bool>& done = twins.first_layer_done_at_start;
  EXPECT_EQ(std::vector<bool>(done.begin(), done.begin() + 4), std::vector<bool>(4, false));
  EXPECT_TRUE(done.back());
  EXPECT_EQ(buckets.started_during_backward(), 6);
  for (size_t i = 0; i < params.size(); ++i) EXPECT_EQ(params[i].grad().to_vector<float>(), plain[i]) << i;
}

// A parameter that the loss does not reach keeps no gradient and is not sent;
// the bucket it shares with reached ones still goes, once backward ends.
TEST(GradientBuckets, LeavesOutParametersTheLossDoesNotReach) {
  const Tensor used = leaf({1.0, 2.0}), unused = leaf({5.0});
  TwinRanks twins;
  twins.first_layer = used;
  dist::GradientBuckets buckets(twins, {used, unused}, 0);
  buckets.backward(sum(used * used));
  EXPECT_EQ(twins.numbers_sent, (std::vector<int64_t>{2}));
  EXPECT_EQ(buckets.started_during_backward(), 0);  // waited for `unused` till the end
  EXPECT_EQ(used.grad().to_vector<double>(), (std::vector<double>{2.0, 4.0}));
  EXPECT_FALSE(unused.grad().defined());
}
