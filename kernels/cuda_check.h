// Status checks for the CUDA runtime, used by kernels/ and engine/cuda/.
// Every call's status becomes an exception that names the call and the error.
#pragma once

#include <cuda_runtime_api.h>

#include <stdexcept>
#include <string>

namespace ng::kernels {

[[noreturn]] inline void throw_cuda_error(cudaError_t err, const char* what, const char* file, int line) {
  throw std::runtime_error(std::string("CUDA error: ") + what + " failed: " + cudaGetErrorName(err) + " (" +
                           cudaGetErrorString(err) + ") at " + file + ":" + std::to_string(line));
}

}  // namespace ng::kernels

// NG_CUDA_CHECK(cudaMemcpy(...)) throws unless the call returned cudaSuccess.
#define NG_CUDA_CHECK(call)                                                                   \
  do {                                                                                        \
    const cudaError_t ng_err_ = (call);                                                       \
    if (ng_err_ != cudaSuccess) ::ng::kernels::throw_cuda_error(ng_err_, #call, __FILE__, __LINE__); \
  } while (0)

// After a kernel launch: reports a bad launch configuration at once (errors
// inside the kernel surface at the next synchronising call).
#define NG_CHECK_LAUNCH(name) NG_CUDA_CHECK((cudaPeekAtLastError(), cudaGetLastError()))
