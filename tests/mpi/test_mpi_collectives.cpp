// The MPI communicator (engine/dist/mpi_communicator.cpp), run by ctest as
// `mpirun -np 2 test_mpi_collectives`: every rank runs every test, and a
// rank's failure fails the run. Values are small whole numbers, so sums are
// exact and compared for equality.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/dist/communicator.h"
#include "engine/dist/gradient_buckets.h"
#include "engine/dist/sync_batch_norm.h"
#include "engine/nanogen.h"
#include "engine/nn/layers.h"

using namespace ng;

TEST(MpiCommunicator, TheLauncherStartedTwoRanks) {
  dist::Communicator& w = dist::world();
  EXPECT_EQ(w.backend(), "mpi");
  ASSERT_EQ(w.world_size(), 2);
  EXPECT_TRUE(w.rank() == 0 || w.rank() == 1);
  EXPECT_EQ(w.local_rank(), w.rank());  // one machine
}

TEST(MpiCommunicator, AllReduceSumsEveryTensorOfEveryDtypeInPlace) {
  dist::Communicator& w = dist::world();
  const double r = double(w.rank());
  // Mixed dtypes and shapes, a non-contiguous view, and an undefined tensor
  // (skipped): each holds (rank + 1) * (its index + 1).
  Tensor a = full({3, 4}, (r + 1) * 1);
  Tensor b = full({5}, (r + 1) * 2, TensorOptions{}.with_dtype(DType::f64));
  Tensor big = full({4, 6}, 0.0);
  Tensor c = big.transpose(0, 1).narrow(0, 1, 3);  // [3, 4], strided, inside `big`
  c.copy_(full({3, 4}, (r + 1) * 3));
  const Tensor parameter = full({2, 2}, (r + 1) * 4).requires_grad_();  // a leaf, as gradients' owners are
  w.all_reduce_sum({a, b, Tensor(), c, parameter});
  EXPECT_EQ(a.to_vector<float>(), std::vector<float>(12, 3 * 1));
  EXPECT_EQ(b.to_vector<double>(), std::vector<double>(5, 3 * 2));
  EXPECT_EQ(c.to_vector<float>(), std::vector<float>(12, 3 * 3));
  EXPECT_EQ(sum(big).item(), 12 * 3 * 3);  // nothing outside the view was touched
  EXPECT_EQ(parameter.to_vector<float>(), std::vector<float>(4, 3 * 4));
}

TEST(MpiCommunicator, BroadcastCopiesTheRootsTensors) {
  dist::Communicator& w = dist::world();
  Tensor a = full({7}, double(w.rank() + 10));
  Tensor b = full({2, 3}, double(w.rank() + 20), TensorOptions{}.with_dtype(DType::f64));
  w.broadcast({a, b}, 1);
  EXPECT_EQ(a.to_vector<float>(), std::vector<float>(7, 11));
  EXPECT_EQ(b.to_vector<double>(), std::vector<double>(6, 21));
  w.barrier();
  try {
    w.broadcast({a}, 2);
    ADD_FAILURE() << "expected an error for root 2";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("root 2 is not a rank of 2"), std::string::npos) << e.what();
  }
}

// Synchronised batch norm on 2 ranks, each holding half of a batch, against
// the one-process batch norm of the whole batch (computed on every rank):
// the outputs and the input gradients are the whole batch's rows, the
// weight's gradients sum to the whole batch's, and the running statistics
// are the whole batch's.
TEST(MpiCommunicator, SyncBatchNormNormalisesOverEveryRanksBatch) {
  dist::Communicator& w = dist::world();
  ASSERT_EQ(w.world_size(), 2);
  const TensorOptions f64 = TensorOptions{}.with_dtype(DType::f64);
  std::vector<double> v(8 * 3 * 2 * 2), r(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    v[i] = std::sin(0.7 * double(i)) * 3 + double(i % 5);
    r[i] = std::cos(1.3 * double(i));
  }
  const Tensor whole = from_vector(v, {8, 3, 2, 2}).requires_grad_();
  const Tensor weight_whole = from_vector(std::vector<double>{1.5, -0.5, 2.0}, {3}).requires_grad_();
  const Tensor bias = from_vector(std::vector<double>{0.1, 0.2, -0.3}, {3});
  Tensor rm_whole = zeros({3}, f64), rv_whole = ones({3}, f64);
  const Tensor cotangent = from_vector(r, {8, 3, 2, 2});
  const Tensor y_whole = batch_norm(whole, weight_whole, bias, rm_whole, rv_whole, true, 0.1, 1e-5);
  sum(y_whole * cotangent).backward();

  const int64_t first = 4 * w.rank();
  const Tensor mine = whole.detach().narrow(0, first, 4).clone().requires_grad_();
  const Tensor weight = weight_whole.detach().clone().requires_grad_();
  Tensor rm = zeros({3}, f64), rv = ones({3}, f64);
  const Tensor y = dist::sync_batch_norm(mine, weight, bias, rm, rv, 0.1, 1e-5, w);
  sum(y * cotangent.narrow(0, first, 4)).backward();

  auto close = [](const Tensor& a, const Tensor& b) { return max(abs(a - b)).item() < 1e-12; };
  EXPECT_TRUE(close(y, y_whole.detach().narrow(0, first, 4)));
  EXPECT_TRUE(close(mine.grad(), whole.grad().narrow(0, first, 4)));
  Tensor weight_grad = weight.grad().clone();
  w.all_reduce_sum({weight_grad});
  EXPECT_TRUE(close(weight_grad, weight_whole.grad()));
  EXPECT_TRUE(close(rm, rm_whole));
  EXPECT_TRUE(close(rv, rv_whole));
}

// Bucketed all-reduce during backward against the plain one after it: a
// three-layer MLP on each rank's own data, a bucket per parameter (so six
// collectives are in flight at once), gives the same mean gradients bit for
// bit, and a mixed-dtype model's f64 bucket travels apart from its f32 ones.
TEST(MpiCommunicator, GradientBucketsAverageAsOneAllReduceAfterBackwardDoes) {
  dist::Communicator& w = dist::world();
  Generator init(3), data(100 + uint64_t(w.rank()));  // the same weights, each rank its own batch
  nn::Linear l1(4, 8, true, init), l2(8, 8, true, init), l3(8, 2, true, init);
  const Tensor x = randn({5, 4}, data);
  const Tensor scale = from_vector(std::vector<double>{0.5, 2.0}, {2}).requires_grad_();  // an f64 leaf
  auto loss = [&] {
    return sum(tanh(l3.forward(tanh(l2.forward(tanh(l1.forward(x))))))) * sum(scale * scale).to(DType::f32);
  };
  const std::vector<Tensor> params = {l1.weight, l1.bias, l2.weight, l2.bias, scale, l3.weight, l3.bias};

  loss().backward();
  std::vector<Tensor> grads;
  for (const Tensor& p : params) grads.push_back(p.grad());
  w.all_reduce_sum(grads);
  std::vector<std::vector<double>> expected;
  for (const Tensor& g : grads) expected.push_back((g / 2.0).to(DType::f64).to_vector<double>());
  for (Tensor p : params) p.zero_grad();

  dist::GradientBuckets buckets(w, params, 1);
  ASSERT_EQ(buckets.buckets().size(), params.size());
  buckets.backward(loss());
  EXPECT_EQ(buckets.started_during_backward(), int64_t(params.size()));
  for (size_t i = 0; i < params.size(); ++i)
    EXPECT_EQ(params[i].grad().to(DType::f64).to_vector<double>(), expected[i]) << "parameter " << i;
}
