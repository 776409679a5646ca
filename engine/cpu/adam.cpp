#include "engine/cpu/adam.h"

#include <cmath>

#include "engine/cpu/loops.h"

namespace ng::cpu {

// Follows PyTorch's single-tensor Adam step for step t:
//   (AdamW) p *= 1 - lr wd        (Adam) g += wd p
//   m = b1 m + (1 - b1) g ;  v = b2 v + (1 - b2) g^2
//   p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
void adam_step(const AdamStep& s, const Tensor& p, const Tensor& g, const Tensor& m, const Tensor& v) {
  dispatch_float(p.dtype(), [&]<class T>() {
    T* pp = p.data<T>();
    const T* gp = g.data<T>();
    T* mp = m.data<T>();
    T* vp = v.data<T>();
    const int64_t n = p.numel();
    const T b1 = T(s.beta1), b2 = T(s.beta2), eps = T(s.eps), wd = T(s.weight_decay);
    const T decay = T(1 - s.lr * s.weight_decay);
    const T step_size = T(s.lr / (1 - std::pow(s.beta1, double(s.step))));
    const T bc2_sqrt = T(std::sqrt(1 - std::pow(s.beta2, double(s.step))));
    const bool decoupled = s.decoupled, l2 = !s.decoupled && s.weight_decay != 0;
#pragma omp parallel for schedule(static) if (n > (1 << 16))
    for (int64_t i = 0; i < n; ++i) {
      T gi = gp[i];
      if (decoupled) pp[i] *= decay;
      if (l2) gi += wd * pp[i];
      mp[i] = mp[i] * b1 + (T(1) - b1) * gi;
      vp[i] = vp[i] * b2 + (T(1) - b2) * gi * gi;
      const T denom = std::sqrt(vp[i]) / bc2_sqrt + eps;
      pp[i] -= step_size * (mp[i] / denom);
    }
  });
}

}  // namespace ng::cpu
