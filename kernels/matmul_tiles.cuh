// What every GEMM kernel of kernels/matmul*.cu shares (nvcc only): the
// kernel arguments, which output tile and which K range a thread block owns,
// and the bounds-checked epilogue stores.
//
// Operands are seen through one lens. A[M, K] and B[K, N] are both "an
// operand X with an MN extent and a K extent": X(mn, k) is A(m, k) or
// B(k, n). In memory X is either k-contiguous (X(mn, k) at x[mn * ld + k]:
// row-major A, or a transposed B such as w.t()) or mn-contiguous
// (x[k * ld + mn]: a transposed A, or row-major B). A kernel is compiled for
// the two operands' kinds, so the four transpose cases (NN, NT, TN, TT) are
// four instantiations of one code.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/matmul.h"

namespace ng::kernels::gemm_detail {

template <class T>
struct GemmArgs {
  int m = 0, n = 0, k = 0;
  int tiles_m = 0, tiles_n = 0;  // output tiles along M and N (grid.x = tiles_m * tiles_n)
  int k_slice = 0;               // K range of one split-K slice, a multiple of the tile depth
  int splits = 1;                // slices per matrix (1: no split-K)
  int64_t z_base = 0;            // first (batch, slice) pair of this launch; blockIdx.z counts on
  const T* a = nullptr;
  int64_t lda = 0;
  const T* b = nullptr;
  int64_t ldb = 0;
  T* c = nullptr;
  int64_t ldc = 0;
  int64_t c_slice_stride = 0;  // elements between the outputs of two split-K slices
  T beta = 0;
  bool vec_a = false, vec_b = false;  // 16-byte loads are aligned (base, ld and batch strides)
  int c_align = 1;                    // C's base, ldc and batch strides are multiples of this (1, 2 or 4)
  GemmBatch batch;                    // when split, C's strides point into the workspace
};

// Element offsets of batch entry `index` (row-major over batch.shape) in A,
// B and C. Unrolled with compile-time indices so that the arrays stay in the
// kernel-parameter bank (a run-time index would copy them to local memory).
__device__ __forceinline__ void batch_offsets(const GemmBatch& g, int64_t index, int64_t& oa, int64_t& ob,
                                              int64_t& oc) {
  oa = ob = oc = 0;
#pragma unroll
  for (int d = kMaxDims - 1; d >= 0; --d) {
    if (d < g.ndim) {
      const int64_t i = index % g.shape[d];
      index /= g.shape[d];
      oa += i * g.stride_a[d];
      ob += i * g.stride_b[d];
      oc += i * g.stride_c[d];
    }
  }
}

// The part of the problem one thread block owns.
template <class T>
struct BlockTask {
  int m0, n0;      // output tile origin
  int k_lo, k_hi;  // this split-K slice's K range [k_lo, k_hi)
  const T* a;      // this batch entry's matrices
  const T* b;
  T* c;  // this slice's output (the workspace when split)
};

// Tile (tm, tn) of blockIdx.x, walked in groups of 8 tile-rows: consecutive
// blocks share A's row panels and sweep B's column panels together, which
// keeps both in L2 (the usual "grouped" tile order). blockIdx.z picks the
// batch entry and the split-K slice.
template <class T, int BM, int BN>
__device__ __forceinline__ BlockTask<T> block_task(const GemmArgs<T>& p) {
  constexpr int kGroup = 8;
  const int pid = int(blockIdx.x);
  const int per_group = kGroup * p.tiles_n;
  const int first_m = (pid / per_group) * kGroup;
  const int group_rows = min(p.tiles_m - first_m, kGroup);
  const int tm = first_m + (pid % per_group) % group_rows;
  const int tn = (pid % per_group) / group_rows;

  const int64_t z = p.z_base + blockIdx.z;
  const int slice = int(z % p.splits);
  int64_t oa, ob, oc;
  batch_offsets(p.batch, z / p.splits, oa, ob, oc);
  BlockTask<T> t;
  t.m0 = tm * BM;
  t.n0 = tn * BN;
  t.k_lo = slice * p.k_slice;
  t.k_hi = min(p.k, t.k_lo + p.k_slice);
  t.a = p.a + oa;
  t.b = p.b + ob;
  t.c = p.c + oc + slice * p.c_slice_stride;
  return t;
}

// out[j] = acc[j] + beta * out[j] for the first `count` (0..4) of four
// consecutive elements of a row of C; C is never read when beta == 0.
// `vec`: a 16-byte access at `out` is aligned.
__device__ __forceinline__ void store4(float* out, const float (&acc)[4], int count, float beta, bool vec) {
  if (vec && count == 4) {
    float4 v = make_float4(acc[0], acc[1], acc[2], acc[3]);
    if (beta != 0.f) {
      const float4 old = *reinterpret_cast<const float4*>(out);
      v.x += beta * old.x;
      v.y += beta * old.y;
      v.z += beta * old.z;
      v.w += beta * old.w;
    }
    *reinterpret_cast<float4*>(out) = v;
    return;
  }
#pragma unroll
  for (int j = 0; j < 4; ++j)
    if (j < count) out[j] = beta != 0.f ? acc[j] + beta * out[j] : acc[j];
}

// The same for two elements (the tensor-core accumulator layout); `vec`: an
// 8-byte access at `out` is aligned.
__device__ __forceinline__ void store2(float* out, float v0, float v1, int count, float beta, bool vec) {
  if (vec && count == 2) {
    float2 v = make_float2(v0, v1);
    if (beta != 0.f) {
      const float2 old = *reinterpret_cast<const float2*>(out);
      v.x += beta * old.x;
      v.y += beta * old.y;
    }
    *reinterpret_cast<float2*>(out) = v;
    return;
  }
  if (count > 0) out[0] = beta != 0.f ? v0 + beta * out[0] : v0;
  if (count > 1) out[1] = beta != 0.f ? v1 + beta * out[1] : v1;
}

// The tensor-core kernels (kernels/matmul_mma.cu), launched by launch_gemm
// on a planned grid. k-contiguous A is row-major A; k-contiguous B is a
// transposed B.
constexpr int kMmaTileM = 128, kMmaTileN = 128, kMmaTileK = 32;
void launch_mma(const GemmArgs<float>& p, GemmMath math, bool a_kcontig, bool b_kcontig, dim3 grid,
                cudaStream_t stream);

}  // namespace ng::kernels::gemm_detail
