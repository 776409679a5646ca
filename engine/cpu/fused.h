// CPU twins of the fused model kernels (kernels/fused.cu): one pass over the
// elements, the formulas of kernels/fused_math.h, the noise drawn in the same
// pass from Philox (seed, offset) with the layout of every random op (element
// i from block offset + i / 4: the numbers normal(out, seed, offset) writes).
// Every tensor is contiguous; the shapes and dtypes are checked by the ops in
// engine/ops/fused.cpp.
#pragma once

#include <cstdint>

#include "engine/tensor.h"
#include "kernels/fused_math.h"

namespace ng::cpu {

// z = mu + exp(logvar / 2) * eps. With `draw`, eps is written first with the
// standard normals of (seed, offset); otherwise it is read.
void reparam_forward(const Tensor& z, const Tensor& eps, const Tensor& mu, const Tensor& logvar, bool draw,
                     uint64_t seed, uint64_t offset);
// dlogvar = g * eps * exp(logvar / 2) / 2 (d mu is g itself).
void reparam_backward(const Tensor& dlogvar, const Tensor& g, const Tensor& logvar, const Tensor& eps);

// x_t = sqrt(abar) x0 + sqrt(1 - abar) eps, eps drawn; x0, x_t, eps are
// [N, ...]; coef is [N, 2]: sample s's (sqrt(abar), sqrt(1 - abar)).
void q_sample(const Tensor& x_t, const Tensor& eps, const Tensor& x0, const Tensor& coef, uint64_t seed,
              uint64_t offset);

// One reverse step of a sampler; z drawn when `noise`, else nothing is drawn
// and nothing added.
void p_sample(const Tensor& x_prev, const Tensor& x_t, const Tensor& eps_pred,
              const kernels::PSampleCoefficients<double>& c, bool noise, uint64_t seed, uint64_t offset);
void ddim_step(const Tensor& x_prev, const Tensor& x_t, const Tensor& eps_pred,
               const kernels::DDIMCoefficients<double>& c, bool noise, uint64_t seed, uint64_t offset);

}  // namespace ng::cpu
