// Arithmetic rounded once after every operation, the same on the host and
// on the GPU.
//
// nvcc contracts a * b + c into one fused multiply-add (a single rounding)
// by default; g++ does not (x86-64's baseline instruction set has no FMA, and
// ISO C++ mode sets -ffp-contract=off). A formula that must give the CPU's
// bits on the GPU is therefore written with these functions: on the device
// they are the _rn intrinsics, which the compiler never fuses; on the host
// they are the plain operators. Division and square root are IEEE correctly
// rounded on both sides (nanogen never builds with --use_fast_math, and the
// _rn forms would keep them exact even then).
#pragma once

#include <cmath>

#include "kernels/hd.h"

#if defined(__CUDA_ARCH__)
#define NG_RN(device_expr, host_expr) return device_expr
#else
#define NG_RN(device_expr, host_expr) return host_expr
#endif

namespace ng::kernels {

NG_HD float add_rn(float a, float b) { NG_RN(__fadd_rn(a, b), a + b); }
NG_HD float sub_rn(float a, float b) { NG_RN(__fsub_rn(a, b), a - b); }
NG_HD float mul_rn(float a, float b) { NG_RN(__fmul_rn(a, b), a * b); }
NG_HD float div_rn(float a, float b) { NG_RN(__fdiv_rn(a, b), a / b); }
NG_HD float sqrt_rn(float a) { NG_RN(__fsqrt_rn(a), std::sqrt(a)); }

NG_HD double add_rn(double a, double b) { NG_RN(__dadd_rn(a, b), a + b); }
NG_HD double sub_rn(double a, double b) { NG_RN(__dsub_rn(a, b), a - b); }
NG_HD double mul_rn(double a, double b) { NG_RN(__dmul_rn(a, b), a * b); }
NG_HD double div_rn(double a, double b) { NG_RN(__ddiv_rn(a, b), a / b); }
NG_HD double sqrt_rn(double a) { NG_RN(__dsqrt_rn(a), std::sqrt(a)); }

}  // namespace ng::kernels

#undef NG_RN
