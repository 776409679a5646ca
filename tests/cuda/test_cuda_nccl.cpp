// The NCCL communicator (engine/dist/nccl_communicator.cpp) at world size 1,
// the one size a machine with one GPU can run: a sum over one rank is the
// tensor itself, so values are compared for equality, and the packing,
// the stream order and the bucketed backward are all exercised. Several
// ranks need several GPUs: `mpirun -np N test_cuda --gtest_filter=CudaNccl.*`
// is not enough, tests/mpi's runs with --device cuda are (docs/distributed.md).
#include <gtest/gtest.h>

#include "engine/nn/layers.h"
#include "support/cuda_twin.h"
#include "support/gradcheck.h"

#ifdef NANOGEN_WITH_NCCL
#include "engine/dist/gradient_buckets.h"
#include "engine/dist/nccl_communicator.h"
#endif

using namespace ng;

#ifdef NANOGEN_WITH_NCCL

namespace {

#define NG_REQUIRE_NCCL()                                                       \
  do {                                                                          \
    NG_REQUIRE_GPU();                                                           \
    std::string why;                                                            \
    if (!dist::nccl_loadable(&why)) GTEST_SKIP() << "NCCL is not here: " << why; \
  } while (0)

std::unique_ptr<dist::Communicator> one_rank() { return dist::make_nccl_communicator(dist::new_nccl_id(), 0, 1, 0); }

}  // namespace

TEST(CudaNccl, AllReduceAndBroadcastOfOneRankKeepEveryTensor) {
  NG_REQUIRE_NCCL();
  const auto ranks = one_rank();
  EXPECT_EQ(ranks->backend(), "nccl");
  EXPECT_EQ(ranks->world_size(), 1);
  const Tensor a = test::uniform({3, 5}, 1, -2, 2, DType::f32).to(test::gpu());
  const Tensor b = test::uniform({7}, 2, -2, 2, DType::f64).to(test::gpu());
  const Tensor big = test::uniform({6, 4}, 3, -2, 2, DType::f32).to(test::gpu());
  const Tensor view = big.transpose(0, 1).narrow(0, 1, 2);  // strided, inside `big`
  const std::vector<float> a0 = a.to_vector<float>(), big0 = big.to_vector<float>();
  const std::vector<double> b0 = b.to_vector<double>();
  ranks->all_reduce_sum({a, Tensor(), b, view});
  EXPECT_EQ(a.to_vector<float>(), a0);
  EXPECT_EQ(b.to_vector<double>(), b0);
  EXPECT_EQ(big.to_vector<float>(), big0);
  auto pending = ranks->start_all_reduce_sum({a, b});
  pending->wait();
  EXPECT_TRUE(pending->test());
  EXPECT_EQ(a.to_vector<float>(), a0);
  ranks->broadcast({a, b}, 0);
  EXPECT_EQ(b.to_vector<double>(), b0);
  ranks->barrier();
  try {
    ranks->all_reduce_sum({zeros({2})});
    ADD_FAILURE() << "expected an error for a CPU tensor";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("NCCL carries tensors on cuda:0"), std::string::npos) << e.what();
  }
}

// The bucketed backward of a data-parallel step on one GPU: every bucket
// starts during backward, and the "mean" over one rank is the gradient.
TEST(CudaNccl, BucketedBackwardOnOneRankKeepsTheGradients) {
  NG_REQUIRE_NCCL();
  const auto ranks = one_rank();
  Generator gen(5);
  nn::Linear l1(6, 16, true, gen), l2(16, 3, true, gen);
  l1.to(test::gpu());
  l2.to(test::gpu());
  const Tensor x = test::uniform({9, 6}, 4, -1, 1, DType::f32).to(test::gpu());
  auto loss = [&] { return sum(tanh(l2.forward(tanh(l1.forward(x))))); };
  const std::vector<Tensor> params = {l1.weight, l1.bias, l2.weight, l2.bias};
  loss().backward();
  std::vector<std::vector<float>> plain;
  for (Tensor p : params) {
    plain.push_back(p.grad().to_vector<float>());
    p.zero_grad();
  }
  dist::GradientBuckets buckets(*ranks, params, 1);
  buckets.backward(loss());
  EXPECT_EQ(buckets.started_during_backward(), 4);
  for (size_t i = 0; i < params.size(); ++i) EXPECT_EQ(params[i].grad().to_vector<float>(), plain[i]) << i;
}

#endif  // NANOGEN_WITH_NCCL
