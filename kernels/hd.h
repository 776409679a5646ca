// NG_HD marks a function that must compile for both the host and the GPU, so
// that the CPU backend and the CUDA kernels compute literally the same math.
#pragma once

#if defined(__CUDACC__)
#define NG_HD __host__ __device__ __forceinline__
#else
#define NG_HD inline
#endif
