#include "engine/cpu/fused.h"

#include "engine/cpu/loops.h"
#include "engine/cpu/philox_blocks.h"
#include "kernels/philox.h"

namespace ng::cpu {

namespace {

// Runs fn(first, count, z) over the groups of four elements of an n-element
// tensor, z holding the group's standard normals when `noise`, else zeros.
template <class T, class Fn>
void for_each_group(int64_t n, bool noise, uint64_t seed, uint64_t offset, Fn fn) {
  if (noise) {
    for_each_philox_block(n, seed, offset, [&](const kernels::PhiloxWords& w, int64_t first, int count) {
      T z[4] = {};
      kernels::normal4<T>(w, z, count);
      fn(first, count, z);
    });
    return;
  }
  const int64_t groups = (n + 3) / 4;
#pragma omp parallel for schedule(static) if (groups >= (1 << 13) && !omp_in_parallel())
  for (int64_t b = 0; b < groups; ++b) {
    const T z[4] = {};
    fn(4 * b, int(std::min<int64_t>(4, n - 4 * b)), z);
  }
}

}  // namespace

void reparam_forward(const Tensor& z, const Tensor& eps, const Tensor& mu, const Tensor& logvar, bool draw,
                     uint64_t seed, uint64_t offset) {
  dispatch_float(z.dtype(), [&]<class T>() {
    T* zp = z.data<T>();
    T* ep = eps.data<T>();
    const T* mp = mu.data<T>();
    const T* lp = logvar.data<T>();
    if (draw) {
      for_each_group<T>(z.numel(), true, seed, offset, [&](int64_t first, int count, const T* e) {
        for (int k = 0; k < count; ++k) {
          ep[first + k] = e[k];
          zp[first + k] = kernels::reparam_z(mp[first + k], lp[first + k], e[k]);
        }
      });
      return;
    }
    const int64_t n = z.numel();
#pragma omp parallel for schedule(static) if (n >= (1 << 15))
    for (int64_t i = 0; i < n; ++i) zp[i] = kernels::reparam_z(mp[i], lp[i], ep[i]);
  });
}

void reparam_backward(const Tensor& dlogvar, const Tensor& g, const Tensor& logvar, const Tensor& eps) {
  dispatch_float(dlogvar.dtype(), [&]<class T>() {
    T* dp = dlogvar.data<T>();
    const T* gp = g.data<T>();
    const T* lp = logvar.data<T>();
    const T* ep = eps.data<T>();
    const int64_t n = dlogvar.numel();
#pragma omp parallel for schedule(static) if (n >= (1 << 15))
    for (int64_t i = 0; i < n; ++i) dp[i] = kernels::reparam_dlogvar(gp[i], lp[i], ep[i]);
  });
}

void q_sample(const Tensor& x_t, const Tensor& eps, const Tensor& x0, const Tensor& coef, uint64_t seed,
              uint64_t offset) {
  dispatch_float(x_t.dtype(), [&]<class T>() {
    T* xp = x_t.data<T>();
    T* ep = eps.data<T>();
    const T* x0p = x0.data<T>();
    const T* cp = coef.data<T>();
    const int64_t per_sample = x0.numel() / std::max<int64_t>(x0.size(0), 1);
    for_each_group<T>(x_t.numel(), true, seed, offset, [&](int64_t first, int count, const T* e) {
      for (int k = 0; k < count; ++k) {
        const int64_t i = first + k, s = i / per_sample;
        ep[i] = e[k];
        xp[i] = kernels::q_sample_value(x0p[i], e[k], cp[2 * s], cp[2 * s + 1]);
      }
    });
  });
}

void p_sample(const Tensor& x_prev, const Tensor& x_t, const Tensor& eps_pred,
              const kernels::PSampleCoefficients<double>& c, bool noise, uint64_t seed, uint64_t offset) {
  dispatch_float(x_prev.dtype(), [&]<class T>() {
    T* out = x_prev.data<T>();
    const T* xp = x_t.data<T>();
    const T* ep = eps_pred.data<T>();
    const kernels::PSampleCoefficients<T> ct = c.template to<T>();
    for_each_group<T>(x_prev.numel(), noise, seed, offset, [&](int64_t first, int count, const T* z) {
      for (int k = 0; k < count; ++k)
        out[first + k] = kernels::p_sample_value(xp[first + k], ep[first + k], z[k], ct, noise);
    });
  });
}

void ddim_step(const Tensor& x_prev, const Tensor& x_t, const Tensor& eps_pred,
               const kernels::DDIMCoefficients<double>& c, bool noise, uint64_t seed, uint64_t offset) {
  dispatch_float(x_prev.dtype(), [&]<class T>() {
    T* out = x_prev.data<T>();
    const T* xp = x_t.data<T>();
    const T* ep = eps_pred.data<T>();
    const kernels::DDIMCoefficients<T> ct = c.template to<T>();
    for_each_group<T>(x_prev.numel(), noise, seed, offset, [&](int64_t first, int count, const T* z) {
      for (int k = 0; k < count; ++k)
        out[first + k] = kernels::ddim_value(xp[first + k], ep[first + k], z[k], ct, noise);
    });
  });
}

}  // namespace ng::cpu
