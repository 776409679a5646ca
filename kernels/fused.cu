// Fused model kernels. All are memory-bound streams: thread g owns elements
// 4g .. 4g+3 of every operand (one Philox block of noise), reads them with
// 16-byte loads, evaluates a formula of kernels/fused_math.h and writes the
// results with 16-byte stores. Against the composite of separate elementwise
// ops they save every intermediate's round trip through memory and all but
// one launch (reparam: 5 launches and 11 array passes -> 1 and 4).
#include <initializer_list>

#include "kernels/cuda_check.h"
#include "kernels/four.cuh"
#include "kernels/fused.h"
#include "kernels/philox.h"

namespace ng::kernels {

namespace {

// The group's standard normals: Philox block offset + g, or zeros. All four
// are computed even for a partial group (a constant count keeps the arrays
// in registers; the extra values are never stored).
template <class T>
__device__ __forceinline__ Four<T> noise4(bool noise, uint64_t seed, uint64_t offset, int64_t g) {
  Four<T> z{};
  if (noise) normal4<T>(philox_block(seed, offset + uint64_t(g)), z.v, 4);
  return z;
}

template <class T>
__global__ void reparam_forward_kernel(T* z, T* eps, const T* mu, const T* logvar, int64_t n, bool draw,
                                       uint64_t seed, uint64_t offset, bool vec) {
  const int64_t groups = groups_of_four(n);
  for (int64_t g = first_group(); g < groups; g += group_stride()) {
    const int64_t i = 4 * g;
    const int count = count_in_group(g, n);
    const Four<T> m = load4(mu + i, count, vec), lv = load4(logvar + i, count, vec);
    const Four<T> e = draw ? noise4<T>(true, seed, offset, g) : load4(eps + i, count, vec);
    Four<T> out;
#pragma unroll
    for (int k = 0; k < 4; ++k) out.v[k] = reparam_z(m.v[k], lv.v[k], e.v[k]);
    store4(z + i, out, count, vec);
    if (draw) store4(eps + i, e, count, vec);
  }
}

template <class T>
__global__ void reparam_backward_kernel(T* dlogvar, const T* grad, const T* logvar, const T* eps, int64_t n,
                                        bool vec) {
  const int64_t groups = groups_of_four(n);
  for (int64_t g = first_group(); g < groups; g += group_stride()) {
    const int64_t i = 4 * g;
    const int count = count_in_group(g, n);
    const Four<T> gg = load4(grad + i, count, vec), lv = load4(logvar + i, count, vec), e = load4(eps + i, count, vec);
    Four<T> out;
#pragma unroll
    for (int k = 0; k < 4; ++k) out.v[k] = reparam_dlogvar(gg.v[k], lv.v[k], e.v[k]);
    store4(dlogvar + i, out, count, vec);
  }
}

// Sample s = i / per_sample reads its two coefficients from coef (tiny,
// cached); the division is done once a group and stepped from there.
template <class T>
__global__ void q_sample_kernel(T* x_t, T* eps, const T* x0, const T* coef, int64_t n, int64_t per_sample,
                                uint64_t seed, uint64_t offset, bool vec) {
  const int64_t groups = groups_of_four(n);
  for (int64_t g = first_group(); g < groups; g += group_stride()) {
    const int64_t i = 4 * g;
    const int count = count_in_group(g, n);
    const Four<T> x = load4(x0 + i, count, vec);
    const Four<T> e = noise4<T>(true, seed, offset, g);
    int64_t s = i / per_sample, within = i - s * per_sample;
    Four<T> out{};
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      if (k < count) out.v[k] = q_sample_value(x.v[k], e.v[k], coef[2 * s], coef[2 * s + 1]);
      if (++within == per_sample) {
        within = 0;
        ++s;
      }
    }
    store4(x_t + i, out, count, vec);
    store4(eps + i, e, count, vec);
  }
}

// p_sample and ddim_step: x_prev = step(x_t, eps_pred, z) with scalar coefficients.
template <class T>
struct PSampleStep {
  PSampleCoefficients<T> c;
  bool noise;
  __device__ T operator()(T x, T e, T z) const { return p_sample_value(x, e, z, c, noise); }
};

template <class T>
struct DDIMStep {
  DDIMCoefficients<T> c;
  bool noise;
  __device__ T operator()(T x, T e, T z) const { return ddim_value(x, e, z, c, noise); }
};

template <class T, class Step>
__global__ void reverse_step_kernel(T* x_prev, const T* x_t, const T* eps_pred, int64_t n, Step step, bool noise,
                                    uint64_t seed, uint64_t offset, bool vec) {
  const int64_t groups = groups_of_four(n);
  for (int64_t g = first_group(); g < groups; g += group_stride()) {
    const int64_t i = 4 * g;
    const int count = count_in_group(g, n);
    const Four<T> x = load4(x_t + i, count, vec), e = load4(eps_pred + i, count, vec);
    const Four<T> z = noise4<T>(noise, seed, offset, g);
    Four<T> out;
#pragma unroll
    for (int k = 0; k < 4; ++k) out.v[k] = step(x.v[k], e.v[k], z.v[k]);
    store4(x_prev + i, out, count, vec);
  }
}

bool all_aligned16(std::initializer_list<const void*> ptrs) {
  for (const void* p : ptrs)
    if (!aligned16(p)) return false;
  return true;
}

int grid_for(int64_t n) { return grid_for_groups(groups_of_four(n)); }

template <class T>
void reparam_forward(void* z, void* eps, const void* mu, const void* logvar, int64_t n, bool draw, uint64_t seed,
                     uint64_t offset, cudaStream_t s) {
  reparam_forward_kernel<T><<<grid_for(n), kFourThreads, 0, s>>>(
      static_cast<T*>(z), static_cast<T*>(eps), static_cast<const T*>(mu), static_cast<const T*>(logvar), n, draw,
      seed, offset, all_aligned16({z, eps, mu, logvar}));
  NG_CHECK_LAUNCH("reparam_forward_kernel");
}

template <class T>
void reparam_backward(void* dlogvar, const void* g, const void* logvar, const void* eps, int64_t n, cudaStream_t s) {
  reparam_backward_kernel<T><<<grid_for(n), kFourThreads, 0, s>>>(
      static_cast<T*>(dlogvar), static_cast<const T*>(g), static_cast<const T*>(logvar), static_cast<const T*>(eps), n,
      all_aligned16({dlogvar, g, logvar, eps}));
  NG_CHECK_LAUNCH("reparam_backward_kernel");
}

template <class T>
void q_sample(void* x_t, void* eps, const void* x0, const void* coef, int64_t n, int64_t per_sample, uint64_t seed,
              uint64_t offset, cudaStream_t s) {
  q_sample_kernel<T><<<grid_for(n), kFourThreads, 0, s>>>(static_cast<T*>(x_t), static_cast<T*>(eps),
                                                           static_cast<const T*>(x0), static_cast<const T*>(coef), n,
                                                           per_sample, seed, offset, all_aligned16({x_t, eps, x0}));
  NG_CHECK_LAUNCH("q_sample_kernel");
}

template <class T, class Step>
void reverse_step(void* x_prev, const void* x_t, const void* eps_pred, int64_t n, Step step, bool noise,
                  uint64_t seed, uint64_t offset, cudaStream_t s) {
  reverse_step_kernel<T><<<grid_for(n), kFourThreads, 0, s>>>(
      static_cast<T*>(x_prev), static_cast<const T*>(x_t), static_cast<const T*>(eps_pred), n, step, noise, seed,
      offset, all_aligned16({x_prev, x_t, eps_pred}));
  NG_CHECK_LAUNCH("reverse_step_kernel");
}

}  // namespace

void launch_reparam_forward(ScalarType t, void* z, void* eps, const void* mu, const void* logvar, int64_t n, bool draw,
                            uint64_t seed, uint64_t offset, cudaStream_t stream) {
  if (n == 0) return;
  if (t == ScalarType::f32)
    reparam_forward<float>(z, eps, mu, logvar, n, draw, seed, offset, stream);
  else
    reparam_forward<double>(z, eps, mu, logvar, n, draw, seed, offset, stream);
}

void launch_reparam_backward(ScalarType t, void* dlogvar, const void* g, const void* logvar, const void* eps,
                             int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  if (t == ScalarType::f32)
    reparam_backward<float>(dlogvar, g, logvar, eps, n, stream);
  else
    reparam_backward<double>(dlogvar, g, logvar, eps, n, stream);
}

void launch_q_sample(ScalarType t, void* x_t, void* eps, const void* x0, const void* coef, int64_t n,
                     int64_t per_sample, uint64_t seed, uint64_t offset, cudaStream_t stream) {
  if (n == 0) return;
  if (t == ScalarType::f32)
    q_sample<float>(x_t, eps, x0, coef, n, per_sample, seed, offset, stream);
  else
    q_sample<double>(x_t, eps, x0, coef, n, per_sample, seed, offset, stream);
}

void launch_p_sample(ScalarType t, void* x_prev, const void* x_t, const void* eps_pred, int64_t n,
                     const PSampleCoefficients<double>& c, bool noise, uint64_t seed, uint64_t offset,
                     cudaStream_t stream) {
  if (n == 0) return;
  if (t == ScalarType::f32)
    reverse_step<float>(x_prev, x_t, eps_pred, n, PSampleStep<float>{c.to<float>(), noise}, noise, seed, offset,
                        stream);
  else
    reverse_step<double>(x_prev, x_t, eps_pred, n, PSampleStep<double>{c, noise}, noise, seed, offset, stream);
}

void launch_ddim_step(ScalarType t, void* x_prev, const void* x_t, const void* eps_pred, int64_t n,
                      const DDIMCoefficients<double>& c, bool noise, uint64_t seed, uint64_t offset,
                      cudaStream_t stream) {
  if (n == 0) return;
  if (t == ScalarType::f32)
    reverse_step<float>(x_prev, x_t, eps_pred, n, DDIMStep<float>{c.to<float>(), noise}, noise, seed, offset, stream);
  else
    reverse_step<double>(x_prev, x_t, eps_pred, n, DDIMStep<double>{c, noise}, noise, seed, offset, stream);
}

}  // namespace ng::kernels
