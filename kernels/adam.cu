// Adam kernels. Memory-bound: each element reads p, g, m, v and writes p, m,
// v (28 bytes in float32) for about 15 flops, so the goal is 16-byte accesses
// and a grid that keeps every SM streaming.
#include "kernels/adam.h"
#include "kernels/cuda_check.h"
#include "kernels/four.cuh"

namespace ng::kernels {

namespace {

// Updates the `count` (1..4) elements starting at i of one tensor.
template <class T>
__device__ __forceinline__ void adam_four(T* p, const T* g, T* m, T* v, int64_t i, int count, bool vec,
                                          const AdamScalars<T>& s) {
  Four<T> pp = load4(p + i, count, vec), mm = load4(m + i, count, vec), vv = load4(v + i, count, vec);
  const Four<T> gg = load4(g + i, count, vec);
#pragma unroll
  for (int k = 0; k < 4; ++k) adam_update(pp.v[k], gg.v[k], mm.v[k], vv.v[k], s);  // lanes >= count are unused
  store4(p + i, pp, count, vec);
  store4(m + i, mm, count, vec);
  store4(v + i, vv, count, vec);
}

template <class T>
__device__ __forceinline__ bool all_aligned16(const AdamTensor& x) {
  return ((reinterpret_cast<uintptr_t>(x.p) | reinterpret_cast<uintptr_t>(x.g) | reinterpret_cast<uintptr_t>(x.m) |
           reinterpret_cast<uintptr_t>(x.v)) & 15) == 0;
}

template <class T>
__global__ void adam_kernel(AdamScalars<T> s, AdamTensor x) {
  const bool vec = all_aligned16<T>(x);
  const int64_t groups = groups_of_four(x.n);
  for (int64_t grp = first_group(); grp < groups; grp += group_stride())
    adam_four(static_cast<T*>(x.p), static_cast<const T*>(x.g), static_cast<T*>(x.m), static_cast<T*>(x.v), 4 * grp,
              count_in_group(grp, x.n), vec, s);
}

// One block a chunk; the block's threads stride through it in 4-element groups.
template <class T>
__global__ void __launch_bounds__(kMultiTensorThreads)
    adam_multi_kernel(AdamScalars<T> s, const AdamTensor* tensors, const TensorChunk* chunks) {
  const TensorChunk c = chunks[blockIdx.x];
  const AdamTensor x = tensors[c.tensor];
  const bool vec = all_aligned16<T>(x);
  const int64_t begin = int64_t(c.index) * kMultiTensorChunk;
  const int64_t end = begin + kMultiTensorChunk < x.n ? begin + kMultiTensorChunk : x.n;
  for (int64_t i = begin + 4 * int64_t(threadIdx.x); i < end; i += 4 * int64_t(blockDim.x)) {
    const int count = end - i >= 4 ? 4 : int(end - i);
    adam_four(static_cast<T*>(x.p), static_cast<const T*>(x.g), static_cast<T*>(x.m), static_cast<T*>(x.v), i, count,
              vec, s);
  }
}

}  // namespace

void launch_adam(ScalarType t, const AdamStep& h, const AdamTensor& x, cudaStream_t stream) {
  if (x.n == 0) return;
  const int grid = grid_for_groups(groups_of_four(x.n));
  if (t == ScalarType::f32)
    adam_kernel<float><<<grid, kFourThreads, 0, stream>>>(adam_scalars<float>(h), x);
  else
    adam_kernel<double><<<grid, kFourThreads, 0, stream>>>(adam_scalars<double>(h), x);
  NG_CHECK_LAUNCH("adam_kernel");
}

void launch_adam_multi(ScalarType t, const AdamStep& h, const MultiTensorArguments& a, const void* device_arguments,
                       cudaStream_t stream) {
  if (a.chunks == 0) return;
  const auto* d_tensors = static_cast<const AdamTensor*>(device_arguments);
  const auto* d_chunks =
      reinterpret_cast<const TensorChunk*>(static_cast<const unsigned char*>(device_arguments) + a.chunks_offset);
  const auto grid = unsigned(a.chunks);
  if (t == ScalarType::f32)
    adam_multi_kernel<float><<<grid, kMultiTensorThreads, 0, stream>>>(adam_scalars<float>(h), d_tensors, d_chunks);
  else
    adam_multi_kernel<double><<<grid, kMultiTensorThreads, 0, stream>>>(adam_scalars<double>(h), d_tensors, d_chunks);
  NG_CHECK_LAUNCH("adam_multi_kernel");
}

}  // namespace ng::kernels
