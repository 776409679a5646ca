// CPU kernels shared by batch_norm, group_norm and layer_norm, for the
// layout both backends take (kernels/layouts.h's NormLayout: [N, C, S] with
// the channels in G groups, a statistic per group of a sample or of the batch).
#pragma once

#include "engine/tensor.h"
#include "kernels/layouts.h"

namespace ng::cpu {

// Forward. x contiguous [N*C*S]; y like x. mean, rstd [num_stats] receive
// the statistics (rstd = 1/sqrt(var + eps), var biased); var, when defined,
// receives the biased variance itself. weight/bias [C] may be undefined.
// y = (x - mean) * rstd * w + b is computed from mean and rstd as stored,
// then put through the epilogue (SiLU or nothing).
void norm_forward(const kernels::NormLayout& l, const Tensor& x, const Tensor& weight, const Tensor& bias, double eps,
                  const Tensor& y, const Tensor& mean, const Tensor& rstd, const Tensor& var,
                  kernels::NormEpilogue epilogue = kernels::NormEpilogue::none);

// The backward of the SiLU epilogue: gy = gz * silu'(y), with y recomputed
// from x and the statistics exactly as norm_forward made it (so gy has the
// bits of silu_backward(gz, y) on the stored y). All contiguous, gy like x.
void norm_silu_grad(const kernels::NormLayout& l, const Tensor& gz, const Tensor& x, const Tensor& weight,
                    const Tensor& bias, const Tensor& mean, const Tensor& rstd, const Tensor& gy);

// Backward of y = xhat * w + b with xhat = (x - mean) * rstd, the statistics
// being functions of x. gy and x contiguous. Writes whichever of gx (like x),
// gw, gb ([C]) are defined. weight may be undefined (w = 1).
void norm_backward(const kernels::NormLayout& l, const Tensor& gy, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                   const Tensor& weight, const Tensor& gx, const Tensor& gw, const Tensor& gb);

}  // namespace ng::cpu
