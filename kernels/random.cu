// Philox draws, one thread per Philox block. Each block is a pure function
// of (seed, offset + block index), so threads never coordinate, and the
// numbers are those of the CPU backend: both evaluate kernels/philox.h.
//
// Bound: the words are cheap (ten rounds of two 32x32 multiplies); the
// float64 Box-Muller of normals costs a log, a sqrt and a sincos per pair,
// which the H100's float64 units absorb at close to write bandwidth.
#include "kernels/cuda_check.h"
#include "kernels/four.cuh"
#include "kernels/philox.h"
#include "kernels/random.h"

namespace ng::kernels {

namespace {

// Fills the four numbers of group b, given its Philox words. All four are
// always computed (a partial last group just stores fewer): with a constant
// count the small arrays are unrolled into registers, where a run-time count
// would index them dynamically and move them to local memory.
template <class T>
struct UniformFill {
  __device__ Four<T> operator()(const PhiloxWords& w, int64_t, int) const {
    Four<T> r{};
    uniform4<T>(w, r.v, 4);
    return r;
  }
};

template <class T>
struct NormalFill {
  __device__ Four<T> operator()(const PhiloxWords& w, int64_t, int) const {
    Four<T> r{};
    normal4<T>(w, r.v, 4);
    return r;
  }
};

template <class T>
struct BernoulliFill {
  const T* p;
  bool p_vec;
  unsigned int* bad;
  __device__ Four<T> operator()(const PhiloxWords& w, int64_t first, int count) const {
    Four<T> u{};
    uniform4<T>(w, u.v, 4);
    const Four<T> prob = load4(p + first, count, p_vec);
    Four<T> r{};
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      if (k >= count) break;
      if (!(prob.v[k] >= T(0) && prob.v[k] <= T(1))) atomicAdd(bad, 1u);  // rare: only on bad input
      r.v[k] = u.v[k] < prob.v[k] ? T(1) : T(0);
    }
    return r;
  }
};

template <class T>
struct DropoutFill {
  T drop_below;  // T(p): the same comparison as the CPU's
  __device__ Four<T> operator()(const PhiloxWords& w, int64_t, int) const {
    Four<T> u{};
    uniform4<T>(w, u.v, 4);
    Four<T> r{};
#pragma unroll
    for (int k = 0; k < 4; ++k) r.v[k] = u.v[k] < drop_below ? T(0) : T(1);
    return r;
  }
};

// Thread g computes Philox block offset + g and writes elements 4g .. 4g+3.
template <class T, class Fill>
__global__ void philox_fill_kernel(T* out, int64_t n, uint64_t seed, uint64_t offset, bool out_vec, Fill fill) {
  const int64_t groups = groups_of_four(n);
  for (int64_t g = first_group(); g < groups; g += group_stride()) {
    const int count = count_in_group(g, n);
    const PhiloxWords words = philox_block(seed, offset + uint64_t(g));
    store4(out + 4 * g, fill(words, 4 * g, count), count, out_vec);
  }
}

template <class T, class Fill>
void launch_fill(void* out, int64_t n, uint64_t seed, uint64_t offset, Fill fill, cudaStream_t stream) {
  if (n == 0) return;
  philox_fill_kernel<T><<<grid_for_groups(groups_of_four(n)), kFourThreads, 0, stream>>>(
      static_cast<T*>(out), n, seed, offset, aligned16(out), fill);
  NG_CHECK_LAUNCH("philox_fill_kernel");
}

}  // namespace

void launch_uniform(ScalarType t, void* out, int64_t n, uint64_t seed, uint64_t offset, cudaStream_t stream) {
  if (t == ScalarType::f32)
    launch_fill<float>(out, n, seed, offset, UniformFill<float>{}, stream);
  else
    launch_fill<double>(out, n, seed, offset, UniformFill<double>{}, stream);
}

void launch_normal(ScalarType t, void* out, int64_t n, uint64_t seed, uint64_t offset, cudaStream_t stream) {
  if (t == ScalarType::f32)
    launch_fill<float>(out, n, seed, offset, NormalFill<float>{}, stream);
  else
    launch_fill<double>(out, n, seed, offset, NormalFill<double>{}, stream);
}

void launch_bernoulli(ScalarType t, void* out, const void* p, int64_t n, uint64_t seed, uint64_t offset,
                      unsigned int* bad, cudaStream_t stream) {
  if (t == ScalarType::f32) {
    const float* pf = static_cast<const float*>(p);
    launch_fill<float>(out, n, seed, offset, BernoulliFill<float>{pf, aligned16(p), bad}, stream);
  } else {
    const double* pd = static_cast<const double*>(p);
    launch_fill<double>(out, n, seed, offset, BernoulliFill<double>{pd, aligned16(p), bad}, stream);
  }
}

void launch_dropout_mask(ScalarType t, void* keep, int64_t n, double p, uint64_t seed, uint64_t offset,
                         cudaStream_t stream) {
  if (t == ScalarType::f32)
    launch_fill<float>(keep, n, seed, offset, DropoutFill<float>{float(p)}, stream);
  else
    launch_fill<double>(keep, n, seed, offset, DropoutFill<double>{p}, stream);
}

}  // namespace ng::kernels
