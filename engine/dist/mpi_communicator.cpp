// Tensors travel through MPI from host memory: the tensors of one dtype are
// packed into one contiguous buffer (one message, whatever the number of
// parameters), reduced in place, and copied back. GPU tensors are staged
// through the host the same way when nanogen has no NCCL.
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

// The tensors of one dtype, packed into one contiguous host buffer: one
// message whatever the number of tensors.
struct Packed {
  std::vector<Tensor> parts;
  Tensor buffer;

  // Packs the tensors of `dtype` (their values when `fill`); empty when none.
  Packed(const std::vector<Tensor>& tensors, DType dtype, bool fill) {
    NoGradGuard no_grad;
    int64_t total = 0;
    for (const Tensor& t : tensors)
      if (t.defined() && t.dtype() == dtype) {
        parts.push_back(t);
        total += t.numel();
      }
    if (parts.empty()) return;
    NG_CHECK(total < (int64_t(1) << 31), "MPI: ", total, " numbers in one message; at most 2^31 - 1 fit");
    buffer = empty({total}, TensorOptions{}.with_dtype(dtype));
    int64_t at = 0;
    for (const Tensor& t : parts) {
      if (fill) buffer.narrow(0, at, t.numel()).copy_(t.reshape({-1}));
      at += t.numel();
    }
  }
  bool none() const { return parts.empty(); }
  int count() const { return int(buffer.numel()); }

  // Copies the buffer back into the tensors.
  void unpack() const {
    NoGradGuard no_grad;
    int64_t at = 0;
    for (const Tensor& t : parts) {
      Tensor target = t;  // a handle to the same storage
      target.copy_(buffer.narrow(0, at, t.numel()).reshape(t.shape()));
      at += t.numel();
    }
  }
};

// Waits for `requests` until the deadline, then ends every rank (MPI has no
// timeout of its own).
void wait_or_abort(std::vector<MPI_Request>& requests, const std::string& what) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(collective_timeout_seconds());
  for (int done = 0;;) {
    check_mpi(MPI_Testall(int(requests.size()), requests.data(), &done, MPI_STATUSES_IGNORE), "MPI_Testall");
    if (done) return;
    if (std::chrono::steady_clock::now() > deadline) {
      int rank = 0, size = 1;
      MPI_Comm_rank(MPI_COMM_WORLD, &rank);
      MPI_Comm_size(MPI_COMM_WORLD, &size);
      std::fprintf(stderr,
                   "nanogen: rank %d of %d waited %.0f s in %s: another rank has stopped or failed; ending every "
                   "rank (NANOGEN_COLLECTIVE_TIMEOUT sets the wait)\n",
                   rank, size, collective_timeout_seconds(), what.c_str());
      std::fflush(stderr);
      MPI_Abort(MPI_COMM_WORLD, 3);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

// Non-blocking collectives on packed buffers, one per dtype present.
class MpiPending final : public PendingCollective {
 public:
  MpiPending(std::vector<Packed> packs, std::vector<MPI_Request> requests, std::string what)
      : packs_(std::move(packs)), requests_(std::move(requests)), what_(std::move(what)) {}
  // A collective left behind (an exception on this rank) still owns buffers
  // that MPI writes to: it is waited for, never abandoned.
  ~MpiPending() override {
    if (!waited_) wait_or_abort(requests_, what_);
  }

  bool test() override {
    int done = 0;
    check_mpi(MPI_Testall(int(requests_.size()), requests_.data(), &done, MPI_STATUSES_IGNORE), "MPI_Testall");
    return done != 0;
  }
  void wait() override {
    if (waited_) return;
    wait_or_abort(requests_, what_);
    waited_ = true;
    for (const Packed& p : packs_) p.unpack();
  }

 private:
  std::vector<Packed> packs_;
  std::vector<MPI_Request> requests_;
  std::string what_;
  bool waited_ = false;
};

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

  void all_reduce_sum(const std::vector<Tensor>& tensors) override { start_all_reduce_sum(tensors)->wait(); }

  std::unique_ptr<PendingCollective> start_all_reduce_sum(const std::vector<Tensor>& tensors) override {
    std::vector<Packed> packs;
    std::vector<MPI_Request> requests;
    int64_t numbers = 0;
    for (DType dtype : {DType::f32, DType::f64}) {
      Packed p(tensors, dtype, true);
      if (p.none()) continue;
      requests.emplace_back();
      check_mpi(MPI_Iallreduce(MPI_IN_PLACE, p.buffer.raw_data(), p.count(), mpi_type(dtype), MPI_SUM,
                               MPI_COMM_WORLD, &requests.back()),
                "MPI_Iallreduce");
      numbers += p.count();
      packs.push_back(std::move(p));
    }
    return std::make_unique<MpiPending>(std::move(packs), std::move(requests),
                                        "an all-reduce of " + std::to_string(numbers) + " numbers");
  }

  void broadcast(const std::vector<Tensor>& tensors, int root) override {
    NG_CHECK(root >= 0 && root < size_, "broadcast: root ", root, " is not a rank of ", size_);
    for (DType dtype : {DType::f32, DType::f64}) {
      Packed p(tensors, dtype, rank_ == root);
      if (p.none()) continue;
      std::string what = "a broadcast of " + std::to_string(p.count()) + " numbers from rank " + std::to_string(root);
      std::vector<MPI_Request> request(1);
      check_mpi(MPI_Ibcast(p.buffer.raw_data(), p.count(), mpi_type(dtype), root, MPI_COMM_WORLD, &request[0]),
                "MPI_Ibcast");
      std::vector<Packed> packs;
      packs.push_back(std::move(p));
      MpiPending(std::move(packs), std::move(request), std::move(what)).wait();
    }
  }

  void barrier() override {
    std::vector<MPI_Request> request(1);
    check_mpi(MPI_Ibarrier(MPI_COMM_WORLD, &request[0]), "MPI_Ibarrier");
    wait_or_abort(request, "a barrier");
  }

 private:
  int rank_ = 0, size_ = 1, local_rank_ = 0;
  bool owns_mpi_ = false;
};

}  // namespace

std::unique_ptr<Communicator> make_mpi_communicator() { return std::make_unique<MpiCommunicator>(); }

}  // namespace ng::dist
