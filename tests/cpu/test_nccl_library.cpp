// Where CMake found NCCL, the library opens at run time (it is not linked:
// engine/dist/nccl_communicator.h), with every function nanogen calls.
// Opening it needs no GPU.
#include <gtest/gtest.h>

#include <string>

#ifdef NANOGEN_WITH_NCCL
#include "engine/dist/nccl_communicator.h"
#endif

TEST(NcclLibrary, OpensWithEveryFunctionNanogenCalls) {
#ifndef NANOGEN_WITH_NCCL
  GTEST_SKIP() << "this build has no NCCL backend (CUDA or nccl.h was not found)";
#else
  std::string why;
  EXPECT_TRUE(ng::dist::nccl_loadable(&why)) << why;
  EXPECT_EQ(why, "");
#endif
}
