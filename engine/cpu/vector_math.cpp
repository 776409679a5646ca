#include "engine/cpu/vector_math.h"

#include <emmintrin.h>
#include <immintrin.h>
#include <sleef.h>

#include <algorithm>
#include <atomic>

// SLEEF's header declares its AVX kernels only to code compiled with -mavx.
// The engine is built for every x86-64 CPU and picks them at run time where
// the CPU has AVX, so they are declared here, for the AVX target alone.
extern "C" {
__attribute__((target("avx"))) __m256 Sleef_cinz_expf8_u10avx(__m256);
__attribute__((target("avx"))) __m256d Sleef_cinz_expd4_u10avx(__m256d);
__attribute__((target("avx"))) __m256 Sleef_cinz_log1pf8_u10avx(__m256);
__attribute__((target("avx"))) __m256d Sleef_cinz_log1pd4_u10avx(__m256d);
__attribute__((target("avx"))) __m256 Sleef_cinz_tanhf8_u10avx(__m256);
__attribute__((target("avx"))) __m256d Sleef_cinz_tanhd4_u10avx(__m256d);
}

namespace ng::cpu {

namespace {

// Runs a 4-float (or 2-double) SSE2 kernel over an array; the tail goes
// through the same kernel in a padded register, so every element takes the
// same path.
template <class F>
void each_vector(const float* x, float* y, int64_t n, F f) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) _mm_storeu_ps(y + i, f(_mm_loadu_ps(x + i)));
  if (i == n) return;
  float in[4] = {0, 0, 0, 0}, out[4];
  std::copy(x + i, x + n, in);
  _mm_storeu_ps(out, f(_mm_loadu_ps(in)));
  std::copy(out, out + (n - i), y + i);
}

template <class F>
void each_vector(const double* x, double* y, int64_t n, F f) {
  int64_t i = 0;
  for (; i + 2 <= n; i += 2) _mm_storeu_pd(y + i, f(_mm_loadu_pd(x + i)));
  if (i == n) return;
  double in[2] = {0, 0}, out[2];
  in[0] = x[i];
  _mm_storeu_pd(out, f(_mm_loadu_pd(in)));
  y[i] = out[0];
}

// The same with SLEEF's 8-float (4-double) AVX kernels, on CPUs that have
// AVX. SLEEF's "cinz" kernels use no FMA and give the same bits at every
// vector width (tests/cpu/test_vector_math.cpp checks it), so which of the
// two runs does not change a result.
__attribute__((target("avx"))) void each_vector_avx(const float* x, float* y, int64_t n, __m256 (*f)(__m256)) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, f(_mm256_loadu_ps(x + i)));
  if (i == n) return;
  float in[8] = {0, 0, 0, 0, 0, 0, 0, 0}, out[8];
  std::copy(x + i, x + n, in);
  _mm256_storeu_ps(out, f(_mm256_loadu_ps(in)));
  std::copy(out, out + (n - i), y + i);
}

__attribute__((target("avx"))) void each_vector_avx(const double* x, double* y, int64_t n, __m256d (*f)(__m256d)) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) _mm256_storeu_pd(y + i, f(_mm256_loadu_pd(x + i)));
  if (i == n) return;
  double in[4] = {0, 0, 0, 0}, out[4];
  std::copy(x + i, x + n, in);
  _mm256_storeu_pd(out, f(_mm256_loadu_pd(in)));
  std::copy(out, out + (n - i), y + i);
}

std::atomic<bool> avx_allowed{true};

// y = f(x) through the AVX kernel where the CPU has AVX, else the SSE2 one.
template <class T, class Avx, class Sse2>
void run(const T* x, T* y, int64_t n, Avx avx, Sse2 sse2) {
  if (avx_kernels_active())
    each_vector_avx(x, y, n, avx);
  else
    each_vector(x, y, n, sse2);
}

}  // namespace

bool avx_kernels_active() {
  static const bool has_avx = __builtin_cpu_supports("avx");
  return has_avx && avx_allowed.load(std::memory_order_relaxed);
}

void allow_avx_kernels(bool allowed) { avx_allowed.store(allowed, std::memory_order_relaxed); }

void exp_array(const float* x, float* y, int64_t n) { run(x, y, n, Sleef_cinz_expf8_u10avx, Sleef_cinz_expf4_u10sse2); }
void exp_array(const double* x, double* y, int64_t n) { run(x, y, n, Sleef_cinz_expd4_u10avx, Sleef_cinz_expd2_u10sse2); }
void log1p_array(const float* x, float* y, int64_t n) {
  run(x, y, n, Sleef_cinz_log1pf8_u10avx, Sleef_cinz_log1pf4_u10sse2);
}
void log1p_array(const double* x, double* y, int64_t n) {
  run(x, y, n, Sleef_cinz_log1pd4_u10avx, Sleef_cinz_log1pd2_u10sse2);
}
void tanh_array(const float* x, float* y, int64_t n) { run(x, y, n, Sleef_cinz_tanhf8_u10avx, Sleef_cinz_tanhf4_u10sse2); }
void tanh_array(const double* x, double* y, int64_t n) {
  run(x, y, n, Sleef_cinz_tanhd4_u10avx, Sleef_cinz_tanhd2_u10sse2);
}

}  // namespace ng::cpu
