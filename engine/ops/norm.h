// Normalisation layers' functional forms, differentiable.
#pragma once

#include "engine/tensor.h"

namespace ng {

// x [N,C] or [N,C,*]. Training: normalise with the batch statistics (biased
// variance) and update running_mean/var in place with `momentum` (running
// variance unbiased, as PyTorch does). Eval: use the running statistics.
// weight/bias [C] may be undefined; running stats may be undefined in training.
Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                  const Tensor& running_var, bool training, double momentum = 0.1, double eps = 1e-5);

// x [N,C,*] normalised over each of `groups` groups of C/groups channels
// (and all spatial positions); weight/bias [C] may be undefined.
Tensor group_norm(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor& bias, double eps = 1e-5);

// silu(group_norm(x, ...)) in one op, with the composite's bits: the
// U-Net's every normalisation. Keeps x for the backward but not the
// normalised tensor (the composite keeps both), and makes one pass fewer
// over memory each way.
Tensor group_norm_silu(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor& bias,
                       double eps = 1e-5);

// Normalises over the trailing dims given by normalized_shape; weight/bias
// of that shape may be undefined.
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias,
                  double eps = 1e-5);

}  // namespace ng
