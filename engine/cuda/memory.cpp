#include "engine/cuda/allocator.h"
#include "engine/cuda/backend.h"
#include "engine/cuda/runtime.h"
#include "engine/cuda/staging.h"
#include "engine/error.h"
#include "kernels/cuda_check.h"
#include "kernels/elementwise.h"

namespace ng::cuda {

void* alloc(size_t nbytes, int device) { return allocate(nbytes, device, stream(device)); }
void free(void* ptr) { release(ptr); }

void fill(const Tensor& dst, double value) {
  const auto g = geometry<1>(dst, {&dst});
  kernels::launch_fill(scalar_type(dst.dtype()), dst.raw_data(), g, value, stream(dst.device()));
}

// Device to device: one strided kernel, converting the dtype on the way.
static void copy_on_device(const Tensor& dst, const Tensor& src) {
  NG_CHECK(dst.device() == src.device(), "copy: between two GPUs (", src.device().str(), " -> ", dst.device().str(),
           ") is not supported; go through the CPU");
  const auto g = geometry<2>(dst, {&dst, &src});
  kernels::launch_copy(scalar_type(dst.dtype()), dst.raw_data(), scalar_type(src.dtype()), src.raw_data(), g,
                       stream(dst.device()));
}

// Host <-> device goes through a dense staging tensor of dst's dtype on the
// host side, since cudaMemcpy moves bytes, not strided views. Uploads go
// through pinned memory and do not wait (engine/cuda/staging.h); downloads
// wait, since the caller reads the bytes next.
void copy(const Tensor& dst, const Tensor& src) {
  if (dst.device().is_cuda() && src.device().is_cuda()) return copy_on_device(dst, src);
  if (dst.device().is_cuda()) {
    const Tensor host = src.to(dst.dtype()).contiguous();
    const Tensor dense = dst.is_contiguous() ? dst : empty(dst.shape(), dst.options());
    upload_async(dense.raw_data(), host.raw_data(), size_t(host.numel()) * dtype_size(host.dtype()),
                 dst.device().index, stream(dst.device()));
    if (!dense.shares_storage(dst)) copy_on_device(dst, dense);
    return;
  }
  // device -> host
  Tensor dense = src;
  if (!src.is_contiguous() || src.dtype() != dst.dtype()) {
    dense = empty(src.shape(), src.options().with_dtype(dst.dtype()));
    copy_on_device(dense, src);
  }
  const Tensor host = dst.is_contiguous() ? dst : empty(dst.shape(), dst.options());
  NG_CUDA_CHECK(cudaMemcpyAsync(host.raw_data(), dense.raw_data(), size_t(dense.numel()) * dtype_size(dense.dtype()),
                                cudaMemcpyDeviceToHost, stream(src.device())));
  synchronize(src.device().index);
  if (!host.shares_storage(dst)) Tensor(dst).copy_(host);
}

}  // namespace ng::cuda
