// exp, log1p and tanh over arrays, through SLEEF's deterministic vector
// kernels (the "cinz" family: no FMA, so every x86-64 CPU computes the same
// bits whatever its vector width, and the result of an element depends on
// that element alone, never on the thread count or where a block starts).
// The 8-float AVX kernels run where the CPU has AVX, the 4-float SSE2 ones
// elsewhere.
// Maximum error 1.0 ulp (SLEEF's u10 bound; tests/cpu/test_vector_math.cpp
// measures it against long double). y may be x.
#pragma once

#include <cstdint>

namespace ng::cpu {

void exp_array(const float* x, float* y, int64_t n);
void exp_array(const double* x, double* y, int64_t n);
void log1p_array(const float* x, float* y, int64_t n);
void log1p_array(const double* x, double* y, int64_t n);
void tanh_array(const float* x, float* y, int64_t n);
void tanh_array(const double* x, double* y, int64_t n);

// Whether the AVX kernels run (the CPU has AVX and they are allowed).
bool avx_kernels_active();
// Allows (the default) or forbids the AVX kernels, for the test that
// compares them with the SSE2 ones bit for bit.
void allow_avx_kernels(bool allowed);

}  // namespace ng::cpu
