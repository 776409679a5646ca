// exp, log1p and tanh over arrays, through SLEEF's deterministic vector
// kernels (the "cinz" family: no FMA, so every x86-64 CPU computes the same
// bits whatever its vector width, and the result of an element depends on
// that element alone, never on the thread count or where a block starts).
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

}  // namespace ng::cpu
