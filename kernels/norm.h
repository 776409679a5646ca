// Batch, group and layer norm on the GPU, for the layout the CPU twin takes
// too (kernels/layouts.h's NormLayout): a contiguous input [N, C, S] whose
// channels form G groups of C/G; one statistic per group of each sample
// (per_sample: group and layer norm) or per group over all samples (batch
// norm, G = C).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "kernels/elementwise.h"
#include "kernels/layouts.h"

namespace ng::kernels {

// Forward: mean, rstd = 1/sqrt(var + eps) and (when var is not null) the
// biased variance of every statistic, then y = (x - mean) * rstd * w + b,
// through the epilogue. weight, bias may be null (w = 1, b = 0). Needs a
// device workspace of norm_forward_workspace_bytes() bytes (0: pass null).
size_t norm_forward_workspace_bytes(ScalarType t, const NormLayout& g);
void launch_norm_forward(ScalarType t, const NormLayout& g, const void* x, const void* weight, const void* bias,
                         double eps, NormEpilogue epilogue, void* y, void* mean, void* rstd, void* var,
                         void* workspace, cudaStream_t stream);

// The backward of the SiLU epilogue: gy = gz * silu'(y), with y recomputed
// from x and the forward's statistics by the forward's own arithmetic, so gy
// has the bits of silu_backward(gz, y) on the stored y. gy then goes through
// the norm's backward below.
void launch_norm_silu_grad(ScalarType t, const NormLayout& g, const void* gz, const void* x, const void* weight,
                           const void* bias, const void* mean, const void* rstd, void* gy, cudaStream_t stream);

// Backward, first pass: for every (n, c) row of S elements,
//   row_g[n*C + c] = sum_s gy,   row_gxhat[n*C + c] = rstd * sum_s gy * (x - mean)
// accumulated in double. The weight and bias gradients are their sums over n.
void launch_norm_backward_rows(ScalarType t, const NormLayout& g, const void* gy, const void* x, const void* mean,
                               const void* rstd, double* row_g, double* row_gxhat, cudaStream_t stream);

// Backward, input gradient: with g' = gy * w and m elements per statistic,
//   gx = rstd * (g' - mean(g') - xhat * mean(g' * xhat))
// where the two means per statistic come from the row sums above.
// `coeffs` is device scratch for 2 * (number of statistics) doubles.
void launch_norm_backward_input(ScalarType t, const NormLayout& g, const void* gy, const void* x, const void* mean,
                                const void* rstd, const void* weight, const double* row_g, const double* row_gxhat,
                                double* coeffs, void* gx, cudaStream_t stream);

}  // namespace ng::kernels
