// Tensors travel through MPI from host memory: the tensors of one dtype are
// packed into one contiguous buffer (one message, whatever the number of
// parameters), reduced in place, and copied back. GPU tensors are staged
// through the host the same way.
//
// Every collective is started non-blocking and waited for with a deadline
// (collective_timeout_seconds): MPI has no timeout of its own, and a rank that
// died or stopped would otherwise leave the others waiting forever. Past the
// deadline this rank says which collective it was waiting in and ends every
// rank with MPI_Abort.
#include "engine/dist/mpi_communicator.h"

// The C API only: without these, Open MPI's mpi.h pulls in its deprecated C++
// bindings, which need a library of their own.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops/shape.h"

namespace ng::dist {

namespace {

void check_mpi(int status, const char* call) {
  if (status == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(status, text, &length);
  throw Error(std::string("MPI: ") + call + " failed: " + std::string(text, size_t(length)));
}

MPI_Datatype mpi_type(DType t) { return t == DType::f32 ? MPI_FLOAT : MPI_DOUBLE; }

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator() {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      int provided = 0;  // only the main thread calls MPI
      check_mpi(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
      owns_mpi_ = true;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    MPI_Comm machine;  // the ranks that share this machine's memory
    check_mpi(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &machine),
              "MPI_Comm_split_type");
    MPI_Comm_rank(machine, &local_rank_);
    MPI_Comm_free(&machine);
  }
  ~MpiCommunicator() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (owns_mpi_ && !finalized) MPI_Finalize();
  }

  int rank() const override { return rank_; }
  int world_size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  std::string backend() const override { return "mpi"; }

  void all_reduce_sum(const std::vector<Tensor>& tensors) override {
    for (DType dtype : {DType::f32, DType::f64})
      with_packed(tensors, dtype, true, [&](Tensor& buffer) {
        MPI_Request request;
        check_mpi(MPI_Iallreduce(MPI_IN_PLACE, buffer.raw_data(), int(buffer.numel()), mpi_type(dtype), MPI_SUM,
                                 MPI_COMM_WORLD, &request),
                  "MPI_Iallreduce");
        wait(request, "an all-reduce of " + std::to_string(buffer.numel()) + " numbers");
      });
  }

  void broadcast(const std::vector<Tensor>& tensors, int root) override {
    NG_CHECK(root >= 0 && root < size_, "broadcast: root ", root, " is not a rank of ", size_);
    for (DType dtype : {DType::f32, DType::f64})
      with_packed(tensors, dtype, rank_ == root, [&](Tensor& buffer) {
        MPI_Request request;
        check_mpi(MPI_Ibcast(buffer.raw_data(), int(buffer.numel()), mpi_type(dtype), root, MPI_COMM_WORLD, &request),
                  "MPI_Ibcast");
        wait(request, "a broadcast of " + std::to_string(buffer.numel()) + " numbers from rank " +
                          std::to_string(root));
      });
  }

  void barrier() override {
    MPI_Request request;
    check_mpi(MPI_Ibarrier(MPI_COMM_WORLD, &request), "MPI_Ibarrier");
    wait(request, "a barrier");
  }

 private:
  // Packs the tensors of `dtype` into one contiguous host buffer (their
  // values when `fill`), runs `collective` on it and copies the result back.
  template <class F>
  void with_packed(const std::vector<Tensor>& tensors, DType dtype, bool fill, F&& collective) {
    NoGradGuard no_grad;
    std::vector<Tensor> parts;
    int64_t total = 0;
    for (const Tensor& t : tensors)
      if (t.defined() && t.dtype() == dtype) {
        parts.push_back(t);
        total += t.numel();
      }
    if (parts.empty()) return;
    NG_CHECK(total < (int64_t(1) << 31), "MPI: ", total, " numbers in one message; at most 2^31 - 1 fit");
    Tensor buffer = empty({total}, TensorOptions{}.with_dtype(dtype));
    int64_t at = 0;
    for (const Tensor& t : parts) {
      if (fill) buffer.narrow(0, at, t.numel()).copy_(t.reshape({-1}));
      at += t.numel();
    }
    collective(buffer);
    at = 0;
    for (const Tensor& t : parts) {
      Tensor target = t;  // a handle to the same storage
      target.copy_(buffer.narrow(0, at, t.numel()).reshape(t.shape()));
      at += t.numel();
    }
  }

  // Waits for `request` until the deadline, then ends every rank.
  void wait(MPI_Request& request, const std::string& what) const {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(collective_timeout_seconds());
    for (int done = 0;;) {
      check_mpi(MPI_Test(&request, &done, MPI_STATUS_IGNORE), "MPI_Test");
      if (done) return;
      if (std::chrono::steady_clock::now() > deadline) {
        std::fprintf(stderr,
                     "nanogen: rank %d of %d waited %.0f s in %s: another rank has stopped or failed; ending every "
                     "rank (NANOGEN_COLLECTIVE_TIMEOUT sets the wait)\n",
                     rank_, size_, collective_timeout_seconds(), what.c_str());
        std::fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, 3);
      }
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }

  int rank_ = 0, size_ = 1, local_rank_ = 0;
  bool owns_mpi_ = false;
};

}  // namespace

std::unique_ptr<Communicator> make_mpi_communicator() { return std::make_unique<MpiCommunicator>(); }

}  // namespace ng::dist
