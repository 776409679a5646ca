// The problem descriptions both backends take. The CPU twin (engine/cpu/),
// the CUDA entry points (engine/cuda/backend.h) and the kernels (kernels/)
// share these structs, so an op describes its problem once and the two
// backends cannot drift apart. Plain data, no CUDA headers: every layer may
// include this file.
#pragma once

#include <cstdint>

#include "kernels/hd.h"

namespace ng::kernels {

// Reductions: which one (engine/cpu/reduce.h, kernels/reduce.h).
enum class ReduceOp { sum, max, min };

// What the forward applies to y = xhat * w + b before storing it: nothing,
// or SiLU. The U-Net follows every group norm by SiLU; fused, the normalised
// tensor is neither written nor kept for the backward (which recomputes it
// from x and the statistics, kernels/norm.h's launch_norm_silu_grad).
enum class NormEpilogue : uint8_t { none, silu };

// An activation the convolution's forward kernel applies after the bias,
// before it stores y (the math of kernels/pointwise.h: relu, leaky_relu with
// `slope`, silu; ng::conv2d_activation): y is written once, activated.
// The slope is a double so that float64 gets the same slope as leaky_relu's.
enum class ConvActivation : uint8_t { none, relu, leaky_relu, silu };
struct ConvEpilogue {
  ConvActivation act = ConvActivation::none;
  double slope = 0.01;  // leaky_relu only
};

// Batch, group and layer norm (engine/cpu/norm.h, kernels/norm.h) see a
// contiguous input as [N, C, S] (batch, channels, spatial positions) with the
// channels split into G groups of C/G. One statistic (mean, variance) covers
// one group of channels over all S positions:
//   - of one sample (per_sample): group_norm, and layer_norm as
//     [rows, normalised elements, 1] with G = 1;
//   - of every sample: batch_norm, with G = C (a group is one channel).
// The affine weight and bias are per channel (length C).
struct NormLayout {
  int64_t N = 1, C = 1, S = 1, G = 1;
  bool per_sample = true;

  NG_HD int64_t group_channels() const { return C / G; }
  NG_HD int64_t num_stats() const { return per_sample ? N * G : G; }
  // How many elements one statistic is computed over.
  NG_HD int64_t stat_size() const { return (per_sample ? 1 : N) * group_channels() * S; }
  // The statistic that element (n, c, *) belongs to (no division when G = 1:
  // the GPU's 64-bit divide is slow).
  NG_HD int64_t stat_of(int64_t n, int64_t c) const {
    return (per_sample ? n * G : 0) + (G == 1 ? 0 : c / group_channels());
  }
};

// softmax / log_softmax (engine/cpu/softmax.h, kernels/softmax.h): a
// contiguous tensor seen as [outer, D, inner], normalised along D.
struct SoftmaxLayout {
  int64_t outer = 1, D = 1, inner = 1;
};

// One Adam / AdamW update's settings (engine/cpu/adam.h, kernels/adam.h).
struct AdamStep {
  double lr, beta1, beta2, eps, weight_decay;
  bool decoupled;  // AdamW
  int64_t step;    // 1 at the first update
};

}  // namespace ng::kernels
