// Internal to the convolution kernels: the pieces kernels/conv.cu's public
// launchers dispatch to (tiled float32 weight gradient, float64 direct
// kernels). Not part of the kernels/ API.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>

#include "kernels/conv.h"

namespace ng::kernels::conv_impl {

// Throws std::invalid_argument naming `op` unless every tensor of g, and the
// GEMM sizes built from it, index with 32-bit ints (what the kernels use).
void check_sizes(const char* op, const ConvGeometry& g);

// kernels/conv_wgrad.cu
size_t weight_grad_workspace_f32(const ConvGeometry& g, const ConvTuning& tune);
void weight_grad_f32(const ConvGeometry& g, float* dw, const float* x, const float* dy, float* workspace,
                     cudaStream_t stream, const ConvTuning& tune);

// kernels/conv_direct.cu
void forward_f64(const ConvGeometry& g, double* y, const double* x, const double* w, const double* bias,
                 const ConvEpilogue& ep, cudaStream_t stream);
void input_grad_f64(const ConvGeometry& g, double* dx, const double* dy, const double* w, const double* bias,
                    cudaStream_t stream);
void weight_grad_f64(const ConvGeometry& g, double* dw, const double* x, const double* dy, cudaStream_t stream);

}  // namespace ng::kernels::conv_impl
