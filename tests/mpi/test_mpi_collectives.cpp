// The MPI communicator (engine/dist/mpi_communicator.cpp), run by ctest as
// `mpirun -np 2 test_mpi_collectives`: every rank runs every test, and a
// rank's failure fails the run. Values are small whole numbers, so sums are
// exact and compared for equality.
#include <gtest/gtest.h>

#include "engine/dist/communicator.h"
#include "engine/nanogen.h"

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
