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
#include <cstdlib>
#include <cstdio>
#include <string>
#include <thread>

#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/dist/packed_tensors.h"
#ifdef NANOGEN_WITH_NCCL
#include "engine/dist/nccl_communicator.h"
#endif
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

// The tensors of one dtype in one host buffer: one message.
struct Packed : PackedTensors {
  Packed(const std::vector<Tensor>& tensors, DType dtype, bool fill)
      : PackedTensors(tensors, dtype, Device::cpu(), fill) {
    NG_CHECK(count() < (int64_t(1) << 31), "MPI: ", count(), " numbers in one message; at most 2^31 - 1 fit");
  }
  int size() const { return int(count()); }
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

// A collective of GPU tensors through NCCL beside one of host tensors.
class BothPending final : public PendingCollective {
 public:
  BothPending(std::unique_ptr<PendingCollective> gpu, std::unique_ptr<PendingCollective> host)
      : gpu_(std::move(gpu)), host_(std::move(host)) {}
  bool test() override { return gpu_->test() & host_->test(); }  // both, each moved along
  void wait() override {
    gpu_->wait();
    host_->wait();
  }

 private:
  std::unique_ptr<PendingCollective> gpu_, host_;
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
    auto [on_gpus, on_host] = split(tensors);
    std::unique_ptr<PendingCollective> host = host_all_reduce_sum(on_host);
    if (on_gpus.empty()) return host;
    return std::make_unique<BothPending>(gpu_ranks_->start_all_reduce_sum(on_gpus), std::move(host));
  }

  void broadcast(const std::vector<Tensor>& tensors, int root) override {
    NG_CHECK(root >= 0 && root < size_, "broadcast: root ", root, " is not a rank of ", size_);
    auto [on_gpus, on_host] = split(tensors);
    if (!on_gpus.empty()) gpu_ranks_->broadcast(on_gpus, root);
    for (DType dtype : {DType::f32, DType::f64}) {
      Packed p(on_host, dtype, rank_ == root);
      if (p.none()) continue;
      std::string what = "a broadcast of " + std::to_string(p.size()) + " numbers from rank " + std::to_string(root);
      std::vector<MPI_Request> request(1);
      check_mpi(MPI_Ibcast(p.buffer.raw_data(), p.size(), mpi_type(dtype), root, MPI_COMM_WORLD, &request[0]),
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
  // Through MPI from host memory (GPU tensors are staged there).
  std::unique_ptr<PendingCollective> host_all_reduce_sum(const std::vector<Tensor>& tensors) {
    std::vector<Packed> packs;
    std::vector<MPI_Request> requests;
    int64_t numbers = 0;
    for (DType dtype : {DType::f32, DType::f64}) {
      Packed p(tensors, dtype, true);
      if (p.none()) continue;
      requests.emplace_back();
      check_mpi(MPI_Iallreduce(MPI_IN_PLACE, p.buffer.raw_data(), p.size(), mpi_type(dtype), MPI_SUM,
                               MPI_COMM_WORLD, &requests.back()),
                "MPI_Iallreduce");
      numbers += p.size();
      packs.push_back(std::move(p));
    }
    return std::make_unique<MpiPending>(std::move(packs), std::move(requests),
                                        "an all-reduce of " + std::to_string(numbers) + " numbers");
  }

  // The tensors NCCL carries (those on a GPU, when NCCL is there) and the rest.
  std::pair<std::vector<Tensor>, std::vector<Tensor>> split(const std::vector<Tensor>& tensors) {
    std::pair<std::vector<Tensor>, std::vector<Tensor>> parts;
    for (const Tensor& t : tensors)
      if (t.defined()) (t.device().is_cuda() && join_gpu_ranks(t.device()) ? parts.first : parts.second).push_back(t);
    return parts;
  }

  // At the first collective of GPU tensors, every rank joins an NCCL clique
  // on its GPU, when every rank can load NCCL; else, and with NANOGEN_NCCL=0,
  // GPU tensors travel through host memory. True when the clique is there.
  bool join_gpu_ranks(Device gpu) {
#ifdef NANOGEN_WITH_NCCL
    if (!tried_nccl_) {
      tried_nccl_ = true;
      std::string why;
      const char* setting = std::getenv("NANOGEN_NCCL");
      int usable = (setting != nullptr && std::string(setting) == "0") ? 0 : int(nccl_loadable(&why));
      if (setting != nullptr && std::string(setting) == "0") why = "NANOGEN_NCCL=0";
      std::vector<MPI_Request> request(1);  // NCCL for all ranks or none
      check_mpi(MPI_Iallreduce(MPI_IN_PLACE, &usable, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD, &request[0]),
                "MPI_Iallreduce");
      wait_or_abort(request, "the vote on NCCL");
      if (usable) {
        NcclId id{};
        if (rank_ == 0) id = new_nccl_id();
        check_mpi(MPI_Ibcast(id.data(), int(id.size()), MPI_CHAR, 0, MPI_COMM_WORLD, &request[0]), "MPI_Ibcast");
        wait_or_abort(request, "the broadcast of NCCL's id");
        gpu_ranks_ = make_nccl_communicator(id, rank_, size_, gpu.index);
      } else if (!why.empty()) {
        std::fprintf(stderr, "nanogen: rank %d: GPU tensors travel through host memory over MPI (%s)\n", rank_,
                     why.c_str());
      }
    }
    return gpu_ranks_ != nullptr;
#else
    (void)gpu;
    return false;
#endif
  }

  int rank_ = 0, size_ = 1, local_rank_ = 0;
  bool owns_mpi_ = false;
  bool tried_nccl_ = false;
  std::unique_ptr<Communicator> gpu_ranks_;  // the NCCL clique, once joined
};

}  // namespace

std::unique_ptr<Communicator> make_mpi_communicator() { return std::make_unique<MpiCommunicator>(); }

}  // namespace ng::dist
