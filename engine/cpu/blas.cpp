#include "engine/cpu/blas.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>

namespace ng::cpu::blas {

namespace {

// Multiply-adds in one block: enough to pay for a BLAS call's fixed cost
// (dispatch, packing both operands) many times over, small enough that the
// GAN's and the VAE's products (a few 10^7 multiply-adds each) still split
// over two threads. Measured on 2 cores (bench_train_step, batch 64, 2
// threads): 2^21 against 2^23 took the GAN step from 151 to 137 ms and the
// VAE's from 35 to 30 ms, with the DDPM unchanged; 2^19 and 2^20 were no
// faster. (The earlier choice, 2^25, was measured while every product ran
// on one thread: see make_library_serial.)
constexpr int64_t kBlockWork = int64_t(1) << 21;
// Blocks of one product at most: enough to keep a many-core machine busy.
constexpr int64_t kMaxBlocks = 32;
// Block edges fall on multiples of 16 rows or columns, whole micro-kernel
// tiles of OpenBLAS's kernels.
constexpr int64_t kAlign = 16;
// Multiply-adds below which the products run on the calling thread alone.
constexpr int64_t kParallelWork = int64_t(1) << 18;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

bool by_rows(const GemmShape& s) { return s.m >= s.n; }

// Rows (or columns) of C in each block but the last.
int64_t block_step(const GemmShape& s) {
  const int64_t extent = by_rows(s) ? s.m : s.n;
  const int64_t wanted = std::clamp<int64_t>(s.m * s.n * s.k / kBlockWork, 1, kMaxBlocks);
  return ceil_div(ceil_div(extent, wanted), kAlign) * kAlign;
}

// The pthread build of OpenBLAS keeps one global thread count: set it to 1
// before the first call. The OpenMP build reads the calling thread's OpenMP
// thread count at every call instead (see OneThread), and must not be told:
// its openblas_set_num_threads(1) calls omp_set_num_threads(1), which would
// leave the engine's own loops on one thread for the rest of the process.
void make_library_serial() {
  static const bool done = [] {
    if (!is_openmp_build()) openblas_set_num_threads(1);
    return true;
  }();
  (void)done;
}

// Holds the calling thread's OpenMP thread count at 1 while it lives, so
// that a call the OpenMP build of OpenBLAS sees outside a parallel region
// runs serially too.
class OneThread {
 public:
  OneThread() : saved_(omp_get_max_threads()) { omp_set_num_threads(1); }
  ~OneThread() { omp_set_num_threads(saved_); }
  OneThread(const OneThread&) = delete;
  OneThread& operator=(const OneThread&) = delete;

 private:
  int saved_;
};

CBLAS_TRANSPOSE op(bool trans) { return trans ? CblasTrans : CblasNoTrans; }

void call(const GemmShape& s, int64_t m, int64_t n, const float* a, const float* b, float beta, float* c) {
  cblas_sgemm(CblasRowMajor, op(s.trans_a), op(s.trans_b), int(m), int(n), int(s.k), 1.0f, a, int(s.lda), b,
              int(s.ldb), beta, c, int(s.ldc));
}

void call(const GemmShape& s, int64_t m, int64_t n, const double* a, const double* b, double beta, double* c) {
  cblas_dgemm(CblasRowMajor, op(s.trans_a), op(s.trans_b), int(m), int(n), int(s.k), 1.0, a, int(s.lda), b,
              int(s.ldb), beta, c, int(s.ldc));
}

// Rows [lo, lo + len) of C (or its columns, when the product is cut by
// columns): row i of op(A) starts at a + i * lda, or at a + i when A is
// stored transposed; column j of op(B) at b + j, or at b + j * ldb.
template <class T>
void block(const GemmShape& s, const GemmOperands<T>& p, T beta, int64_t lo, int64_t len) {
  if (by_rows(s))
    call(s, len, s.n, p.a + lo * (s.trans_a ? 1 : s.lda), p.b, beta, p.c + lo * s.ldc);
  else
    call(s, s.m, len, p.a, p.b + lo * (s.trans_b ? s.ldb : 1), beta, p.c + lo);
}

}  // namespace

int64_t blocks_of(const GemmShape& s) {
  if (s.m <= 0 || s.n <= 0) return 0;
  return ceil_div(by_rows(s) ? s.m : s.n, block_step(s));
}

template <class T>
void gemm_batched(const GemmShape& s, T beta, int64_t count,
                  const std::function<GemmOperands<T>(int64_t)>& operands) {
  const int64_t blocks = blocks_of(s);
  if (count <= 0 || blocks == 0) return;
  make_library_serial();
  const int64_t step = block_step(s), extent = by_rows(s) ? s.m : s.n, tasks = count * blocks;
  auto task = [&](int64_t t) {
    const int64_t lo = (t % blocks) * step;
    block(s, operands(t / blocks), beta, lo, std::min(step, extent - lo));
  };
  const bool parallel = tasks > 1 && !omp_in_parallel() && omp_get_max_threads() > 1 &&
                        count * s.m * s.n * s.k >= kParallelWork;
  if (parallel) {
    // Inside this region the OpenMP build of OpenBLAS runs each call serially.
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < tasks; ++t) task(t);
  } else {
    const OneThread one;
    for (int64_t t = 0; t < tasks; ++t) task(t);
  }
}

template <class T>
void gemm(const GemmShape& s, const T* a, const T* b, T beta, T* c) {
  gemm_batched<T>(s, beta, 1, [&](int64_t) { return GemmOperands<T>{a, b, c}; });
}

void serial(const std::function<void()>& f) {
  make_library_serial();
  const OneThread one;
  f();
}

bool is_openmp_build() { return openblas_get_parallel() == 2; }

template void gemm_batched<float>(const GemmShape&, float, int64_t,
                                  const std::function<GemmOperands<float>(int64_t)>&);
template void gemm_batched<double>(const GemmShape&, double, int64_t,
                                   const std::function<GemmOperands<double>(int64_t)>&);
template void gemm<float>(const GemmShape&, const float*, const float*, float, float*);
template void gemm<double>(const GemmShape&, const double*, const double*, double, double*);

}  // namespace ng::cpu::blas
