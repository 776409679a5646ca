#include "engine/cuda/runtime.h"

#include <mutex>
#include <vector>

#include "engine/cpu/loops.h"
#include "engine/error.h"
#include "kernels/cuda_check.h"

namespace ng {

int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // no driver or no device: not an error for us
    return 0;
  }
  return n;
}

bool cuda_available() {
  static const bool available = cuda_device_count() > 0;
  return available;
}

int cuda_compute_capability(int device) {
  NG_CHECK(device >= 0 && device < cuda_device_count(), "cuda:", device, " does not exist (", cuda_device_count(),
           " devices)");
  int major = 0, minor = 0;
  NG_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  NG_CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device));
  return 10 * major + minor;
}

namespace cuda {

cudaStream_t stream(int device) {
  static std::mutex mutex;
  static std::vector<cudaStream_t> streams;
  std::lock_guard<std::mutex> lock(mutex);
  if (streams.empty()) streams.resize(size_t(std::max(cuda_device_count(), 1)), nullptr);
  NG_CHECK(device >= 0 && size_t(device) < streams.size(), "cuda:", device, " does not exist (", streams.size(),
           " devices)");
  if (!streams[size_t(device)]) {
    NG_CUDA_CHECK(cudaSetDevice(device));
    NG_CUDA_CHECK(cudaStreamCreateWithFlags(&streams[size_t(device)], cudaStreamNonBlocking));
  }
  return streams[size_t(device)];
}

void synchronize(int device) { NG_CUDA_CHECK(cudaStreamSynchronize(stream(device))); }

kernels::ScalarType scalar_type(DType t) {
  return t == DType::f32 ? kernels::ScalarType::f32 : kernels::ScalarType::f64;
}

template <int N>
kernels::StridedGeometry<N> geometry(const Tensor& out, const Tensor* const (&operands)[N]) {
  std::array<Shape, N> strides;
  for (int k = 0; k < N; ++k) strides[size_t(k)] = cpu::broadcast_strides(*operands[k], out.shape());
  const cpu::LoopPlan<N> plan = cpu::plan_loop<N>(out.shape(), strides);
  NG_CHECK(plan.shape.size() <= size_t(kernels::kMaxDims), "cuda: a tensor of ", plan.shape.size(),
           " non-mergeable dims exceeds the kernels' limit of ", kernels::kMaxDims);
  kernels::StridedGeometry<N> g;
  g.ndim = int(plan.shape.size());
  g.numel = out.numel();
  g.contiguous = g.ndim == 1;
  for (int d = 0; d < g.ndim; ++d) {
    g.shape[d] = plan.shape[size_t(d)];
    for (int k = 0; k < N; ++k) {
      g.strides[k][d] = plan.strides[size_t(k)][size_t(d)];
      if (d == g.ndim - 1 && g.strides[k][d] != 1 && g.shape[d] != 1) g.contiguous = false;
    }
  }
  return g;
}

template kernels::StridedGeometry<1> geometry<1>(const Tensor&, const Tensor* const (&)[1]);
template kernels::StridedGeometry<2> geometry<2>(const Tensor&, const Tensor* const (&)[2]);
template kernels::StridedGeometry<3> geometry<3>(const Tensor&, const Tensor* const (&)[3]);
template kernels::StridedGeometry<4> geometry<4>(const Tensor&, const Tensor* const (&)[4]);

}  // namespace cuda
}  // namespace ng
