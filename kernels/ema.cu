// The EMA kernel. Memory-bound: each element reads the average and the
// weight and writes the average (12 bytes in float32) for three flops.
#include "kernels/cuda_check.h"
#include "kernels/ema.h"
#include "kernels/ema_math.h"
#include "kernels/four.cuh"

namespace ng::kernels {

namespace {

// One block a chunk; the block's threads stride through it in 4-element groups.
template <class T>
__global__ void __launch_bounds__(kMultiTensorThreads)
    ema_multi_kernel(T decay, T weight, const EmaTensor* tensors, const TensorChunk* chunks) {
  const TensorChunk c = chunks[blockIdx.x];
  const EmaTensor x = tensors[c.tensor];
  T* average = static_cast<T*>(x.average);
  const T* value = static_cast<const T*>(x.value);
  const bool vec = ((reinterpret_cast<uintptr_t>(average) | reinterpret_cast<uintptr_t>(value)) & 15) == 0;
  const int64_t begin = int64_t(c.index) * kMultiTensorChunk;
  const int64_t end = begin + kMultiTensorChunk < x.n ? begin + kMultiTensorChunk : x.n;
  for (int64_t i = begin + 4 * int64_t(threadIdx.x); i < end; i += 4 * int64_t(blockDim.x)) {
    const int count = end - i >= 4 ? 4 : int(end - i);
    Four<T> a = load4(average + i, count, vec);
    const Four<T> v = load4(value + i, count, vec);
#pragma unroll
    for (int k = 0; k < 4; ++k) a.v[k] = ema_value(a.v[k], v.v[k], decay, weight);  // lanes >= count are unused
    store4(average + i, a, count, vec);
  }
}

}  // namespace

void launch_ema_multi(ScalarType t, double decay, const MultiTensorArguments& a, const void* device_arguments,
                      cudaStream_t stream) {
  if (a.chunks == 0) return;
  const auto* d_tensors = static_cast<const EmaTensor*>(device_arguments);
  const auto* d_chunks =
      reinterpret_cast<const TensorChunk*>(static_cast<const unsigned char*>(device_arguments) + a.chunks_offset);
  const auto grid = unsigned(a.chunks);
  if (t == ScalarType::f32)
    ema_multi_kernel<float><<<grid, kMultiTensorThreads, 0, stream>>>(float(decay), float(1.0 - decay), d_tensors,
                                                                      d_chunks);
  else
    ema_multi_kernel<double><<<grid, kMultiTensorThreads, 0, stream>>>(decay, 1.0 - decay, d_tensors, d_chunks);
  NG_CHECK_LAUNCH("ema_multi_kernel");
}

}  // namespace ng::kernels
