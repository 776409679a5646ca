// Pinned host memory for uploads that do not stop the host.
//
// cudaMemcpyAsync from pageable memory returns only once the bytes are
// staged, and the caller must keep its buffer alive until the copy has run,
// which in practice means waiting for the stream: every small upload (a
// batch, the timesteps of a step, a table of coefficients) would drain the
// GPU's queue. Instead the bytes are copied into a pinned staging buffer, the
// DMA is queued behind the stream's work, an event marks when it has run, and
// the host goes on. A buffer is handed out again only once its event has
// completed.
#pragma once

#include <cstddef>

#include <cuda_runtime_api.h>

namespace ng::cuda {

// Copies `bytes` from host memory `src` to device memory `dst` on `stream`
// (of device `device`) without waiting for the copy: `src` may be freed or
// changed as soon as this returns. Uploads above kMaxStagedUpload bytes go
// synchronously instead (they are rare, and pinning that much memory would
// not pay).
void upload_async(void* dst, const void* src, size_t bytes, int device, cudaStream_t stream);

inline constexpr size_t kMaxStagedUpload = size_t(64) << 20;

}  // namespace ng::cuda
