// Run as `mpirun -np 2 collective_timeout_probe` with a short
// NANOGEN_COLLECTIVE_TIMEOUT: rank 1 never joins the all-reduce (it exits,
// as a rank that failed would), and rank 0 must say so and end the job
// instead of waiting forever. ctest checks the message (tests/CMakeLists.txt).
#include <chrono>
#include <cstdio>
#include <thread>

#include "engine/dist/communicator.h"
#include "engine/nanogen.h"

int main() {
  ng::dist::Communicator& w = ng::dist::world();
  if (w.rank() == 1) {
    std::this_thread::sleep_for(std::chrono::seconds(30));  // stays away past rank 0's deadline
    return 0;
  }
  ng::Tensor t = ng::full({4}, 1.0);
  w.all_reduce_sum({t});
  std::printf("the all-reduce returned without rank 1\n");
  return 0;
}
