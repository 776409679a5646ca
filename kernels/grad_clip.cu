// The clipping kernels (see grad_clip.h). Memory-bound: the gradients are
// read twice (the squares, the scaling) and written once.
#include "kernels/cuda_check.h"
#include "kernels/four.cuh"
#include "kernels/grad_clip.h"
#include "kernels/warp_reduce.cuh"

namespace ng::kernels {

namespace {

struct Sum {
  __device__ double operator()(double a, double b) const { return a + b; }
};

// The elements [begin, end) of chunk c.
struct ChunkRange {
  int64_t begin, end;
  __device__ ChunkRange(const TensorChunk& c, int64_t n) {
    begin = int64_t(c.index) * kMultiTensorChunk;
    end = begin + kMultiTensorChunk < n ? begin + kMultiTensorChunk : n;
  }
};

template <class T>
__global__ void __launch_bounds__(kMultiTensorThreads)
    square_sums_kernel(const ClipTensor* tensors, const TensorChunk* chunks, double* partial) {
  __shared__ double smem[32];
  const TensorChunk c = chunks[blockIdx.x];
  const ClipTensor x = tensors[c.tensor];
  const T* g = static_cast<const T*>(x.grad);
  const ChunkRange r(c, x.n);
  double s = 0;
  for (int64_t i = r.begin + threadIdx.x; i < r.end; i += blockDim.x) {
    const double v = double(g[i]);
    s += v * v;
  }
  s = block_reduce(s, smem, 0.0, Sum{});
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

__global__ void __launch_bounds__(kMultiTensorThreads)
    norm_and_scale_kernel(const double* partial, int32_t chunks, double max_norm, double* norm, double* scale) {
  __shared__ double smem[32];
  double s = 0;
  for (int32_t i = threadIdx.x; i < chunks; i += blockDim.x) s += partial[i];
  s = block_reduce(s, smem, 0.0, Sum{});
  if (threadIdx.x == 0) {
    const double n = sqrt(s);
    *norm = n;
    *scale = n > max_norm ? max_norm / (n + 1e-6) : 1.0;  // a NaN norm fails the test: scale 1, as on the host
  }
}

template <class T>
__global__ void __launch_bounds__(kMultiTensorThreads)
    scale_kernel(const ClipTensor* tensors, const TensorChunk* chunks, const double* scale) {
  const T s = T(*scale);
  if (s == T(1)) return;  // at or below the bound: the gradients keep their bits
  const TensorChunk c = chunks[blockIdx.x];
  const ClipTensor x = tensors[c.tensor];
  T* g = static_cast<T*>(x.grad);
  const bool vec = (reinterpret_cast<uintptr_t>(g) & 15) == 0;
  const ChunkRange r(c, x.n);
  for (int64_t i = r.begin + 4 * int64_t(threadIdx.x); i < r.end; i += 4 * int64_t(blockDim.x)) {
    const int count = r.end - i >= 4 ? 4 : int(r.end - i);
    Four<T> v = load4(g + i, count, vec);
#pragma unroll
    for (int k = 0; k < 4; ++k) v.v[k] = v.v[k] * s;
    store4(g + i, v, count, vec);
  }
}

template <class T>
void clip(double max_norm, const MultiTensorArguments& a, const ClipTensor* tensors, const TensorChunk* chunks,
          double* scratch, double* norm, cudaStream_t stream) {
  const auto grid = unsigned(a.chunks);
  double* partial = scratch;
  double* scale = scratch + a.chunks;
  square_sums_kernel<T><<<grid, kMultiTensorThreads, 0, stream>>>(tensors, chunks, partial);
  NG_CHECK_LAUNCH("square_sums_kernel");
  norm_and_scale_kernel<<<1, kMultiTensorThreads, 0, stream>>>(partial, a.chunks, max_norm, norm, scale);
  NG_CHECK_LAUNCH("norm_and_scale_kernel");
  scale_kernel<T><<<grid, kMultiTensorThreads, 0, stream>>>(tensors, chunks, scale);
  NG_CHECK_LAUNCH("scale_kernel");
}

}  // namespace

void launch_clip_grad_norm_multi(ScalarType t, double max_norm, const MultiTensorArguments& a,
                                 const void* device_arguments, double* scratch, double* norm, cudaStream_t stream) {
  if (a.chunks == 0) return;
  const auto* d_tensors = static_cast<const ClipTensor*>(device_arguments);
  const auto* d_chunks =
      reinterpret_cast<const TensorChunk*>(static_cast<const unsigned char*>(device_arguments) + a.chunks_offset);
  if (t == ScalarType::f32)
    clip<float>(max_norm, a, d_tensors, d_chunks, scratch, norm, stream);
  else
    clip<double>(max_norm, a, d_tensors, d_chunks, scratch, norm, stream);
}

}  // namespace ng::kernels
