// The exponential moving average's update of one averaged weight s towards
// the model's weight p (Polyak averaging; the DDPM samples from the average):
//   s = s * decay + p * (1 - decay)
// each operation rounded on its own and in this order, the order in which
// the composite mul_(s, decay); add_(s, p, 1 - decay) computes it, so that
// the fused loops (engine/cpu/ema.cpp, kernels/ema.cu) give the same bits.
#pragma once

#include "kernels/hd.h"
#include "kernels/rn_math.h"

namespace ng::kernels {

template <class T>
NG_HD T ema_value(T average, T value, T decay, T weight) {
  return add_rn(mul_rn(average, decay), mul_rn(value, weight));
}

}  // namespace ng::kernels
