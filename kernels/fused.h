// Fused model kernels: the VAE's reparameterised sample and the diffusion
// steps, each one pass over memory with its noise drawn in the same pass
// (Philox (seed, offset), the numbers launch_normal would write). Formulas:
// kernels/fused_math.h, shared with the CPU twins (engine/cpu/fused.cpp).
// Arrays are dense, n elements, of the launch's dtype.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/elementwise.h"  // ScalarType
#include "kernels/fused_math.h"

namespace ng::kernels {

// z = mu + exp(logvar / 2) * eps; with `draw` eps is written (drawn), else read.
void launch_reparam_forward(ScalarType t, void* z, void* eps, const void* mu, const void* logvar, int64_t n, bool draw,
                            uint64_t seed, uint64_t offset, cudaStream_t stream);
// dlogvar = g * eps * exp(logvar / 2) / 2.
void launch_reparam_backward(ScalarType t, void* dlogvar, const void* g, const void* logvar, const void* eps,
                             int64_t n, cudaStream_t stream);
// x_t[i] = coef[2s] x0[i] + coef[2s+1] eps[i], s = i / per_sample, eps drawn
// and written; coef holds each sample's (sqrt(abar), sqrt(1 - abar)).
void launch_q_sample(ScalarType t, void* x_t, void* eps, const void* x0, const void* coef, int64_t n,
                     int64_t per_sample, uint64_t seed, uint64_t offset, cudaStream_t stream);
// One reverse step of a sampler; z drawn when `noise`, else nothing is drawn
// and nothing added.
void launch_p_sample(ScalarType t, void* x_prev, const void* x_t, const void* eps_pred, int64_t n,
                     const PSampleCoefficients<double>& c, bool noise, uint64_t seed, uint64_t offset,
                     cudaStream_t stream);
void launch_ddim_step(ScalarType t, void* x_prev, const void* x_t, const void* eps_pred, int64_t n,
                      const DDIMCoefficients<double>& c, bool noise, uint64_t seed, uint64_t offset,
                      cudaStream_t stream);

}  // namespace ng::kernels
