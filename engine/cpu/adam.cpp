#include "engine/cpu/adam.h"

#include "engine/cpu/loops.h"
#include "kernels/adam_math.h"

namespace ng::cpu {

// The per-element math is kernels/adam_math.h, which the CUDA kernels share.
void adam_step(const kernels::AdamStep& s, const Tensor& p, const Tensor& g, const Tensor& m, const Tensor& v) {
  dispatch_float(p.dtype(), [&]<class T>() {
    T* pp = p.data<T>();
    const T* gp = g.data<T>();
    T* mp = m.data<T>();
    T* vp = v.data<T>();
    const int64_t n = p.numel();
    const kernels::AdamScalars<T> scalars = kernels::adam_scalars<T>(s);
#pragma omp parallel for schedule(static) if (n > (1 << 16))
    for (int64_t i = 0; i < n; ++i) kernels::adam_update(pp[i], gp[i], mp[i], vp[i], scalars);
  });
}

}  // namespace ng::cpu
