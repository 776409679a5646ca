// The Adam/AdamW update of one element, shared by the CPU backend
// (engine/cpu/adam.cpp) and the CUDA kernels (kernels/adam.cu).
//
// It follows PyTorch's single-tensor Adam step for step t:
//   (AdamW) p *= 1 - lr wd        (Adam) g += wd p
//   m = b1 m + (1 - b1) g ;  v = b2 v + (1 - b2) g^2
//   p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// The step's scalars are computed once on the host in float64 and rounded to
// the parameter's dtype; every per-element operation is rounded on its own
// (kernels/rn_math.h), so the GPU's update is bit-identical to the CPU's.
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/hd.h"
#include "kernels/layouts.h"
#include "kernels/rn_math.h"

namespace ng::kernels {


// What the per-element update needs, in the parameter's dtype.
template <class T>
struct AdamScalars {
  T beta1, beta2, one_minus_beta1, one_minus_beta2, eps, weight_decay;
  T decay;      // 1 - lr wd (AdamW)
  T step_size;  // lr / (1 - b1^t)
  T bc2_sqrt;   // sqrt(1 - b2^t)
  bool decoupled, l2;
};

// Host only: the bias corrections in float64, then rounded once to T.
template <class T>
inline AdamScalars<T> adam_scalars(const AdamStep& h) {
  AdamScalars<T> s;
  s.beta1 = T(h.beta1);
  s.beta2 = T(h.beta2);
  s.one_minus_beta1 = T(1) - s.beta1;  // in T, as the CPU loop always computed it
  s.one_minus_beta2 = T(1) - s.beta2;
  s.eps = T(h.eps);
  s.weight_decay = T(h.weight_decay);
  s.decay = T(1 - h.lr * h.weight_decay);
  s.step_size = T(h.lr / (1 - std::pow(h.beta1, double(h.step))));
  s.bc2_sqrt = T(std::sqrt(1 - std::pow(h.beta2, double(h.step))));
  s.decoupled = h.decoupled;
  s.l2 = !h.decoupled && h.weight_decay != 0;
  return s;
}

// Updates one element of p, m, v in place from its gradient g.
template <class T>
NG_HD void adam_update(T& p, T g, T& m, T& v, const AdamScalars<T>& s) {
  if (s.decoupled) p = mul_rn(p, s.decay);
  if (s.l2) g = add_rn(g, mul_rn(s.weight_decay, p));
  m = add_rn(mul_rn(m, s.beta1), mul_rn(s.one_minus_beta1, g));
  v = add_rn(mul_rn(v, s.beta2), mul_rn(mul_rn(s.one_minus_beta2, g), g));
  const T denom = add_rn(div_rn(sqrt_rn(v), s.bc2_sqrt), s.eps);
  p = sub_rn(p, mul_rn(s.step_size, div_rn(m, denom)));
}

}  // namespace ng::kernels
