// Matrix products on the GPU: C[..., M, N] = A[..., M, K] @ B[..., K, N] + beta * C.
//
// Everything is described in row-major terms, as in engine/cpu/gemm.h: an
// operand X[rows, cols] has element (r, c) at data[r * ld + c] (trans =
// false, "row-major") or at data[c * ld + r] (trans = true, a transposed view
// such as w.t(), "column-major"). C is always row-major with leading
// dimension ldc. With beta == 0, C is only written, never read (so NaN or
// garbage there does not leak into the result).
//
// Kernels (kernels/matmul.cu):
//  - float32, GemmMath::fp32: a tiled SIMT SGEMM (CUDA cores, exact fp32 FMAs);
//  - float32, GemmMath::tf32 / bf16: tensor cores through mma.sync (sm_80+),
//    inputs rounded to tf32 or bf16, products accumulated in fp32;
//  - float64: a plain tiled DGEMM (a reference, not a race horse).
// Small-output, long-K problems are split along K ("split-K") into partial
// products that a second kernel sums in a fixed order (deterministic).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "kernels/elementwise.h"  // ScalarType
#include "kernels/strided.h"      // kMaxDims

namespace ng::kernels {

// How the products of a float32 GEMM are formed (float64 ignores it).
enum class GemmMath : uint8_t {
  fp32,  // CUDA-core FMAs in fp32: exact to fp32 rounding
  tf32,  // tensor cores, inputs rounded to tf32 (10-bit mantissa), fp32 accumulation
  bf16,  // tensor cores, inputs rounded to bf16 (7-bit mantissa), fp32 accumulation
};

// The batch dims of a GEMM (outermost first) with each operand's stride in
// elements along them; 0 along a dim an operand is broadcast over.
struct GemmBatch {
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t stride_a[kMaxDims] = {};
  int64_t stride_b[kMaxDims] = {};
  int64_t stride_c[kMaxDims] = {};
};

struct GemmProblem {
  ScalarType type = ScalarType::f32;
  int64_t m = 0, n = 0, k = 0;
  const void* a = nullptr;
  int64_t lda = 0;
  bool trans_a = false;
  const void* b = nullptr;
  int64_t ldb = 0;
  bool trans_b = false;
  void* c = nullptr;
  int64_t ldc = 0;
  double beta = 0.0;
  GemmBatch batch;  // ndim == 0: a single matrix
};

// Scratch bytes launch_gemm wants for split-K partial sums on the current
// device (0 when the problem is not split). Launching with less scratch is
// allowed: the GEMM then runs unsplit (correct, slower for long K).
size_t gemm_workspace_bytes(const GemmProblem& p, GemmMath math);

// Queues the GEMM on `stream` (the current device). Throws std::runtime_error
// on sizes the kernels cannot index or on a CUDA error.
void launch_gemm(const GemmProblem& p, GemmMath math, void* workspace, size_t workspace_bytes,
                 cudaStream_t stream);

}  // namespace ng::kernels
