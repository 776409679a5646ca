// Tensor-core building blocks shared by the GEMM (kernels/matmul_mma.cu)
// and the convolutions (kernels/conv.cu): rounding float32 to the tensor
// cores' input formats, and one mma.sync each for tf32 and bf16 with fp32
// accumulation. sm_80+; device code, include from .cu files only.
//
// Fragment layouts (PTX ISA, "Matrix fragments for mma.m16n8k8 / m16n8k16"),
// lane = 4 * g + t, g = lane / 4 (0..7), t = lane % 4 (0..3):
//   m16n8k8 tf32:  A (16x8)   a0 = A[g][t]    a1 = A[g+8][t]  a2 = A[g][t+4]  a3 = A[g+8][t+4]
//                  B (8x8)    b0 = B[t][g]    b1 = B[t+4][g]
//   m16n8k16 bf16: A (16x16)  a0 = A[g][2t..2t+1]    a1 = A[g+8][2t..2t+1]
//                             a2 = A[g][2t+8..2t+9]  a3 = A[g+8][2t+8..2t+9]
//                  B (16x8)   b0 = B[2t..2t+1][g]    b1 = B[2t+8..2t+9][g]
//                  (two bf16 a register, the lower k in the lower half)
//   both:          C (16x8)   c0 = C[g][2t]  c1 = C[g][2t+1]  c2 = C[g+8][2t]  c3 = C[g+8][2t+1]
#pragma once

#include <cuda_bf16.h>

#include <cstdint>
#include <cstring>

namespace ng::kernels {

// Round to nearest, ties away from zero (cvt.rna): 10 fraction bits kept.
__device__ __forceinline__ uint32_t to_tf32(float x) {
  uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(r) : "f"(x));
  return r;
}

// Two floats rounded to bf16 (nearest, ties to even) in one register, `lo`
// in the lower half.
__device__ __forceinline__ uint32_t to_bf16x2(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  uint32_t r;
  memcpy(&r, &v, sizeof r);
  return r;
}

__device__ __forceinline__ void mma_tf32(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

__device__ __forceinline__ void mma_bf16(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

}  // namespace ng::kernels
