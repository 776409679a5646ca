// Philox draws on the GPU (kernels/random.cu): the same numbers as
// engine/cpu/random.cpp for the same (seed, offset).
//
// Like the CPU twins, these need contiguous tensors: the draw fills elements
// in row-major order. The ops of engine/ops/random.cpp guarantee it: rand,
// randn and dropout write into fresh empty() tensors, and bernoulli passes
// p.contiguous().
#include "engine/cuda/backend.h"
#include "engine/cuda/runtime.h"
#include "engine/error.h"
#include "kernels/cuda_check.h"
#include "kernels/random.h"

namespace ng::cuda {

namespace {

void check_contiguous(const char* op, const Tensor& t) {
  NG_CHECK(t.is_contiguous(), "cuda::", op, ": expected a contiguous tensor, got shape ", shape_str(t.shape()),
           " with strides ", shape_str(t.strides()));
}

}  // namespace

void uniform(const Tensor& out, uint64_t seed, uint64_t offset) {
  check_contiguous("uniform", out);
  kernels::launch_uniform(scalar_type(out.dtype()), out.raw_data(), out.numel(), seed, offset, stream(out.device()));
}

void normal(const Tensor& out, uint64_t seed, uint64_t offset) {
  check_contiguous("normal", out);
  kernels::launch_normal(scalar_type(out.dtype()), out.raw_data(), out.numel(), seed, offset, stream(out.device()));
}

// The kernel counts the probabilities outside [0, 1] as it samples; reading
// that count back waits for the GPU, the price of the CPU's exact contract
// (an error, not a silent clamp). bernoulli is rare in training loops
// (dropout has its own mask kernel).
void bernoulli(const Tensor& out, const Tensor& p, uint64_t seed, uint64_t offset) {
  check_contiguous("bernoulli", out);
  check_contiguous("bernoulli", p);
  NG_CHECK(p.shape() == out.shape() && p.dtype() == out.dtype() && p.device() == out.device(),
           "cuda::bernoulli: p ", shape_str(p.shape()), " must match the output ", shape_str(out.shape()));
  const int device = out.device().index;
  const cudaStream_t s = stream(device);
  auto* bad = static_cast<unsigned int*>(alloc(sizeof(unsigned int), device));
  unsigned int host_bad = 0;
  try {
    NG_CUDA_CHECK(cudaMemsetAsync(bad, 0, sizeof(unsigned int), s));
    kernels::launch_bernoulli(scalar_type(out.dtype()), out.raw_data(), p.raw_data(), out.numel(), seed, offset, bad,
                              s);
    NG_CUDA_CHECK(cudaMemcpyAsync(&host_bad, bad, sizeof(unsigned int), cudaMemcpyDeviceToHost, s));
    NG_CUDA_CHECK(cudaStreamSynchronize(s));
  } catch (...) {
    free(bad);
    throw;
  }
  free(bad);
  NG_CHECK(host_bad == 0, "bernoulli: ", host_bad, " of the ", p.numel(), " probabilities in p ",
           shape_str(p.shape()), " are outside [0, 1]");
}

void dropout_mask(const Tensor& keep, double p, uint64_t seed, uint64_t offset) {
  check_contiguous("dropout_mask", keep);
  kernels::launch_dropout_mask(scalar_type(keep.dtype()), keep.raw_data(), keep.numel(), p, seed, offset,
                               stream(keep.device()));
}

}  // namespace ng::cuda
