// The engine's one door to OpenBLAS: every BLAS and LAPACK call goes
// through here.
//
// OpenBLAS sums a product in an order that depends on how it is called: on
// how many threads it runs, and even on the block it is handed (one entry of
// C can differ in its last bit between a call over the whole matrix and a
// call over 16 of its rows). Left to itself, a product's bits would then
// depend on the thread count of the machine, and a process whose first
// product ran on OpenBLAS's threads would compute other bits than the same
// product later on: a resumed training run would drift from an
// uninterrupted one. So the engine owns the order:
//   - OpenBLAS never runs threads of its own. Every call is made either
//     inside an OpenMP parallel region (where the OpenMP build of OpenBLAS
//     runs serially) or with the calling thread's OpenMP thread count at 1.
//   - A product is cut into blocks by a rule that reads its shape alone,
//     and the blocks are shared out over the engine's OpenMP threads.
// A product then has the same bits at every thread count, in every call and
// in every process (on one machine: OpenBLAS picks its kernels by CPU).
#pragma once

#include <cstdint>
#include <functional>

namespace ng::cpu::blas {

// The sizes and layout of C[m, n] = op(A)[m, k] @ op(B)[k, n] + beta * C,
// every matrix row-major with the given leading dimension (the distance
// between stored rows); op(X) is X or, when trans_*, X's transpose.
struct GemmShape {
  int64_t m, n, k;
  bool trans_a, trans_b;
  int64_t lda, ldb, ldc;
};

template <class T>
struct GemmOperands {
  const T* a;
  const T* b;
  T* c;
};

// The blocks one product of this shape is cut into (along its rows when
// m >= n, else along its columns). Depends on the shape alone, never on the
// thread count: that is what makes the bits independent of it.
int64_t blocks_of(const GemmShape& s);

// `count` products of one shape, product i on operands(i). With beta == 0, C
// is only written, never read. Runs on the engine's OpenMP threads.
template <class T>
void gemm_batched(const GemmShape& s, T beta, int64_t count, const std::function<GemmOperands<T>(int64_t)>& operands);

// One product.
template <class T>
void gemm(const GemmShape& s, const T* a, const T* b, T beta, T* c);

// Runs f, which may call LAPACK, with OpenBLAS on one thread.
void serial(const std::function<void()>& f);

// True when the OpenBLAS in this process is its OpenMP build (the one CMake
// links, sharing the engine's thread pool instead of spinning its own).
bool is_openmp_build();

}  // namespace ng::cpu::blas
