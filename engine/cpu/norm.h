// CPU kernels shared by batch_norm, group_norm and layer_norm.
//
// All three see a contiguous input as [N, C, S] (batch, channels, spatial
// positions) with the channels split into G groups of C/G. One statistic
// (mean, variance) covers one group of channels over all S positions:
//   - of one sample (per_sample): group_norm, and layer_norm as
//     [rows, normalised elements, 1] with G = 1;
//   - of every sample: batch_norm, with G = C (a group is one channel).
// The affine weight/bias are always per channel c (length C).
#pragma once

#include "engine/tensor.h"

namespace ng::cpu {

struct NormLayout {
  int64_t N = 1, C = 1, S = 1, G = 1;
  bool per_sample = true;

  int64_t group_channels() const { return C / G; }
  int64_t num_stats() const { return per_sample ? N * G : G; }
  // How many elements one statistic is computed over.
  int64_t stat_size() const { return (per_sample ? 1 : N) * group_channels() * S; }
  // The statistic that element (n, c, *) belongs to.
  int64_t stat_of(int64_t n, int64_t c) const { return (per_sample ? n * G : 0) + c / group_channels(); }
};

// Forward. x contiguous [N*C*S]; y like x. mean, rstd [num_stats] receive
// the statistics (rstd = 1/sqrt(var + eps), var biased); var, when defined,
// receives the biased variance itself. weight/bias [C] may be undefined.
void norm_forward(const NormLayout& l, const Tensor& x, const Tensor& weight, const Tensor& bias, double eps,
                  const Tensor& y, const Tensor& mean, const Tensor& rstd, const Tensor& var);

// Backward of y = xhat * w + b with xhat = (x - mean) * rstd, the statistics
// being functions of x. gy and x contiguous. Writes whichever of gx (like x),
// gw, gb ([C]) are defined. weight may be undefined (w = 1).
void norm_backward(const NormLayout& l, const Tensor& gy, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                   const Tensor& weight, const Tensor& gx, const Tensor& gw, const Tensor& gb);

}  // namespace ng::cpu
