#include "engine/dist/nccl_communicator.h"

#include <cuda_runtime_api.h>
#include <dlfcn.h>
#include <nccl.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>
#include <type_traits>
#include <vector>

#include "engine/cuda/runtime.h"
#include "engine/dist/packed_tensors.h"
#include "engine/error.h"

namespace ng::dist {

namespace {

static_assert(sizeof(ncclUniqueId) == sizeof(NcclId), "ncclUniqueId is 128 bytes");

// The functions nanogen calls, looked up in libnccl.so.2 on first use.
struct NcclLibrary {
  std::string error;  // empty when every function was found
  decltype(&ncclGetUniqueId) get_unique_id = nullptr;
  decltype(&ncclCommInitRank) comm_init_rank = nullptr;
  decltype(&ncclCommDestroy) comm_destroy = nullptr;
  decltype(&ncclCommAbort) comm_abort = nullptr;
  decltype(&ncclCommGetAsyncError) comm_get_async_error = nullptr;
  decltype(&ncclGetErrorString) get_error_string = nullptr;
  decltype(&ncclAllReduce) all_reduce = nullptr;
  decltype(&ncclBroadcast) broadcast = nullptr;
  decltype(&ncclGroupStart) group_start = nullptr;
  decltype(&ncclGroupEnd) group_end = nullptr;
};

const NcclLibrary& nccl() {
  static const NcclLibrary library = [] {
    NcclLibrary l;
    // The system's search path first (LD_LIBRARY_PATH, ld.so.cache, this
    // library's RUNPATH), then where CMake found it.
    void* handle = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
#ifdef NANOGEN_NCCL_LIBRARY
    if (handle == nullptr) handle = dlopen(NANOGEN_NCCL_LIBRARY, RTLD_NOW | RTLD_LOCAL);
#endif
    if (handle == nullptr) {
      const char* e = dlerror();
      l.error = std::string("libnccl.so.2 could not be opened: ") + (e ? e : "not found");
      return l;
    }
    auto find = [&](auto& function, const char* name) {
      function = reinterpret_cast<std::remove_reference_t<decltype(function)>>(dlsym(handle, name));
      if (function == nullptr && l.error.empty()) l.error = std::string("libnccl.so.2 has no ") + name;
    };
    find(l.get_unique_id, "ncclGetUniqueId");
    find(l.comm_init_rank, "ncclCommInitRank");
    find(l.comm_destroy, "ncclCommDestroy");
    find(l.comm_abort, "ncclCommAbort");
    find(l.comm_get_async_error, "ncclCommGetAsyncError");
    find(l.get_error_string, "ncclGetErrorString");
    find(l.all_reduce, "ncclAllReduce");
    find(l.broadcast, "ncclBroadcast");
    find(l.group_start, "ncclGroupStart");
    find(l.group_end, "ncclGroupEnd");
    return l;
  }();
  return library;
}

const NcclLibrary& loaded_nccl() {
  const NcclLibrary& l = nccl();
  NG_CHECK(l.error.empty(), "NCCL: ", l.error, " (it comes with the CUDA toolkit or the nvidia-nccl package; ",
           "put its folder on LD_LIBRARY_PATH)");
  return l;
}

void check_nccl(ncclResult_t status, const char* call) {
  if (status == ncclSuccess || status == ncclInProgress) return;
  throw Error(std::string("NCCL: ") + call + " failed: " + nccl().get_error_string(status));
}

void check_cuda(cudaError_t status, const char* call) {
  if (status != cudaSuccess) throw Error(std::string("NCCL: ") + call + " failed: " + cudaGetErrorString(status));
}

ncclDataType_t nccl_type(DType t) { return t == DType::f32 ? ncclFloat32 : ncclFloat64; }

// Collectives queued on the device's stream, on packed buffers. The event
// marks their end; wait() polls it with the deadline, then queues the copies
// back into the tensors (which follow it on the stream).
class NcclPending final : public PendingCollective {
 public:
  NcclPending(ncclComm_t comm, int rank, std::vector<PackedTensors> packs, cudaStream_t stream, std::string what)
      : comm_(comm), rank_(rank), packs_(std::move(packs)), what_(std::move(what)) {
    check_cuda(cudaEventCreateWithFlags(&done_, cudaEventDisableTiming), "cudaEventCreate");
    check_cuda(cudaEventRecord(done_, stream), "cudaEventRecord");
  }
  ~NcclPending() override {
    if (!waited_) {  // an exception on this rank: the buffers must outlive the collective
      try {
        wait_for_gpu();
      } catch (...) {
      }
    }
    cudaEventDestroy(done_);
  }

  bool test() override { return cudaEventQuery(done_) == cudaSuccess; }
  void wait() override {
    if (waited_) return;
    wait_for_gpu();
    waited_ = true;
    for (const PackedTensors& p : packs_) p.unpack();
  }

 private:
  // NCCL has no timeout: a rank that died leaves the others' kernels
  // spinning. Past the deadline this rank aborts the clique and fails.
  void wait_for_gpu() {
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::duration<double>(collective_timeout_seconds());
    for (;;) {
      const cudaError_t state = cudaEventQuery(done_);
      if (state == cudaSuccess) return;
      if (state != cudaErrorNotReady) check_cuda(state, "cudaEventQuery");
      ncclResult_t async = ncclSuccess;
      check_nccl(nccl().comm_get_async_error(comm_, &async), "ncclCommGetAsyncError");
      check_nccl(async, what_.c_str());
      if (std::chrono::steady_clock::now() > deadline) {
        nccl().comm_abort(comm_);
        throw Error("NCCL: rank " + std::to_string(rank_) + " waited " +
                    std::to_string(int(collective_timeout_seconds())) + " s in " + what_ +
                    ": another rank has stopped or failed (NANOGEN_COLLECTIVE_TIMEOUT sets the wait)");
      }
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
  }

  ncclComm_t comm_;
  int rank_;
  std::vector<PackedTensors> packs_;
  std::string what_;
  cudaEvent_t done_ = nullptr;
  bool waited_ = false;
};

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(const NcclId& id, int rank, int world_size, int device)
      : rank_(rank), size_(world_size), device_(device) {
    const NcclLibrary& l = loaded_nccl();
    NG_CHECK(world_size >= 1 && rank >= 0 && rank < world_size, "NCCL: rank ", rank, " of ", world_size,
             " does not exist");
    check_cuda(cudaSetDevice(device), "cudaSetDevice");  // NCCL binds the current device
    ncclUniqueId unique;
    std::memcpy(&unique, id.data(), sizeof(unique));
    check_nccl(l.comm_init_rank(&comm_, world_size, unique, rank), "ncclCommInitRank");
  }
  ~NcclCommunicator() override {
    if (comm_ != nullptr) nccl().comm_destroy(comm_);
  }

  int rank() const override { return rank_; }
  int world_size() const override { return size_; }
  int local_rank() const override { return device_; }
  std::string backend() const override { return "nccl"; }

  void all_reduce_sum(const std::vector<Tensor>& tensors) override { start_all_reduce_sum(tensors)->wait(); }

  std::unique_ptr<PendingCollective> start_all_reduce_sum(const std::vector<Tensor>& tensors) override {
    return run(tensors, true, [&](const PackedTensors& p, ncclDataType_t type, cudaStream_t stream) {
      return nccl().all_reduce(p.buffer.raw_data(), p.buffer.raw_data(), size_t(p.count()), type, ncclSum, comm_,
                               stream);
    }, "an all-reduce");
  }

  void broadcast(const std::vector<Tensor>& tensors, int root) override {
    NG_CHECK(root >= 0 && root < size_, "broadcast: root ", root, " is not a rank of ", size_);
    run(tensors, rank_ == root, [&](const PackedTensors& p, ncclDataType_t type, cudaStream_t stream) {
      return nccl().broadcast(p.buffer.raw_data(), p.buffer.raw_data(), size_t(p.count()), type, root, comm_, stream);
    }, "a broadcast")->wait();
  }

  void barrier() override {
    const Tensor one = ones({1}, TensorOptions{}.with_device(Device::cuda(device_)));
    all_reduce_sum({one});
    cuda::synchronize(device_);
  }

 private:
  // Packs each dtype's tensors on the GPU and queues `collective` on each
  // buffer, as one NCCL group.
  template <class F>
  std::unique_ptr<PendingCollective> run(const std::vector<Tensor>& tensors, bool fill, F&& collective,
                                         const std::string& what) {
    for (const Tensor& t : tensors)
      NG_CHECK(!t.defined() || t.device() == Device::cuda(device_), "NCCL carries tensors on cuda:", device_,
               ", this rank's GPU; got one on ", t.device().str());
    const cudaStream_t stream = cuda::stream(device_);
    std::vector<PackedTensors> packs;
    int64_t numbers = 0;
    for (DType dtype : {DType::f32, DType::f64}) {
      PackedTensors p(tensors, dtype, Device::cuda(device_), fill);
      numbers += p.count();
      if (!p.none()) packs.push_back(std::move(p));
    }
    check_nccl(nccl().group_start(), "ncclGroupStart");
    for (const PackedTensors& p : packs) check_nccl(collective(p, nccl_type(p.buffer.dtype()), stream), what.c_str());
    check_nccl(nccl().group_end(), "ncclGroupEnd");
    return std::make_unique<NcclPending>(comm_, rank_, std::move(packs), stream,
                                         what + " of " + std::to_string(numbers) + " numbers on the GPUs");
  }

  int rank_, size_, device_;
  ncclComm_t comm_ = nullptr;
};

}  // namespace

bool nccl_loadable(std::string* why) {
  const NcclLibrary& l = nccl();
  if (why != nullptr) *why = l.error;
  return l.error.empty();
}

NcclId new_nccl_id() {
  ncclUniqueId unique;
  check_nccl(loaded_nccl().get_unique_id(&unique), "ncclGetUniqueId");
  NcclId id;
  std::memcpy(id.data(), &unique, sizeof(unique));
  return id;
}

std::unique_ptr<Communicator> make_nccl_communicator(const NcclId& id, int rank, int world_size, int device) {
  return std::make_unique<NcclCommunicator>(id, rank, world_size, device);
}

}  // namespace ng::dist
