#include "engine/cpu/ema.h"

#include "engine/cpu/loops.h"
#include "kernels/ema_math.h"

namespace ng::cpu {

void ema_update(const Tensor& average, const Tensor& value, double decay) {
  dispatch_float(average.dtype(), [&]<class T>() {
    T* a = average.data<T>();
    const T* v = value.data<T>();
    const T d = T(decay), w = T(1.0 - decay);
    const int64_t n = average.numel();
#pragma omp parallel for schedule(static) if (n > (1 << 16))
    for (int64_t i = 0; i < n; ++i) a[i] = kernels::ema_value(a[i], v[i], d, w);
  });
}

}  // namespace ng::cpu
