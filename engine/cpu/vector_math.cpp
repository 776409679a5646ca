#include "engine/cpu/vector_math.h"

#include <emmintrin.h>
#include <sleef.h>

#include <algorithm>

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

}  // namespace

void exp_array(const float* x, float* y, int64_t n) { each_vector(x, y, n, Sleef_cinz_expf4_u10sse2); }
void exp_array(const double* x, double* y, int64_t n) { each_vector(x, y, n, Sleef_cinz_expd2_u10sse2); }
void log1p_array(const float* x, float* y, int64_t n) { each_vector(x, y, n, Sleef_cinz_log1pf4_u10sse2); }
void log1p_array(const double* x, double* y, int64_t n) { each_vector(x, y, n, Sleef_cinz_log1pd2_u10sse2); }
void tanh_array(const float* x, float* y, int64_t n) { each_vector(x, y, n, Sleef_cinz_tanhf4_u10sse2); }
void tanh_array(const double* x, double* y, int64_t n) { each_vector(x, y, n, Sleef_cinz_tanhd2_u10sse2); }

}  // namespace ng::cpu
