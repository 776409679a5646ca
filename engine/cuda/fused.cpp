// The fused model kernels on the GPU (kernels/fused.cu); the same contract as
// the CPU twins in engine/cpu/fused.cpp: contiguous tensors of one dtype,
// checked by the ops in engine/ops/fused.cpp.
#include <algorithm>
#include <initializer_list>

#include "engine/cuda/backend.h"
#include "engine/cuda/runtime.h"
#include "engine/error.h"
#include "kernels/fused.h"

namespace ng::cuda {

namespace {

void check_dense(const char* op, std::initializer_list<const Tensor*> tensors) {
  for (const Tensor* t : tensors)
    NG_CHECK(t->is_contiguous(), "cuda::", op, ": expected contiguous tensors, got shape ", shape_str(t->shape()),
             " with strides ", shape_str(t->strides()));
}

}  // namespace

void reparam_forward(const Tensor& z, const Tensor& eps, const Tensor& mu, const Tensor& logvar, bool draw,
                     uint64_t seed, uint64_t offset) {
  check_dense("reparam_forward", {&z, &eps, &mu, &logvar});
  kernels::launch_reparam_forward(scalar_type(z.dtype()), z.raw_data(), eps.raw_data(), mu.raw_data(),
                                  logvar.raw_data(), z.numel(), draw, seed, offset, stream(z.device()));
}

void reparam_backward(const Tensor& dlogvar, const Tensor& g, const Tensor& logvar, const Tensor& eps) {
  check_dense("reparam_backward", {&dlogvar, &g, &logvar, &eps});
  kernels::launch_reparam_backward(scalar_type(dlogvar.dtype()), dlogvar.raw_data(), g.raw_data(), logvar.raw_data(),
                                   eps.raw_data(), dlogvar.numel(), stream(dlogvar.device()));
}

void q_sample(const Tensor& x_t, const Tensor& eps, const Tensor& x0, const Tensor& coef, uint64_t seed,
              uint64_t offset) {
  check_dense("q_sample", {&x_t, &eps, &x0, &coef});
  const int64_t per_sample = x0.numel() / std::max<int64_t>(x0.size(0), 1);
  kernels::launch_q_sample(scalar_type(x_t.dtype()), x_t.raw_data(), eps.raw_data(), x0.raw_data(), coef.raw_data(),
                           x_t.numel(), per_sample, seed, offset, stream(x_t.device()));
}

void p_sample(const Tensor& x_prev, const Tensor& x_t, const Tensor& eps_pred,
              const kernels::PSampleCoefficients<double>& c, bool noise, uint64_t seed, uint64_t offset) {
  check_dense("p_sample", {&x_prev, &x_t, &eps_pred});
  kernels::launch_p_sample(scalar_type(x_prev.dtype()), x_prev.raw_data(), x_t.raw_data(), eps_pred.raw_data(),
                           x_prev.numel(), c, noise, seed, offset, stream(x_prev.device()));
}

void ddim_step(const Tensor& x_prev, const Tensor& x_t, const Tensor& eps_pred,
               const kernels::DDIMCoefficients<double>& c, bool noise, uint64_t seed, uint64_t offset) {
  check_dense("ddim_step", {&x_prev, &x_t, &eps_pred});
  kernels::launch_ddim_step(scalar_type(x_prev.dtype()), x_prev.raw_data(), x_t.raw_data(), eps_pred.raw_data(),
                            x_prev.numel(), c, noise, seed, offset, stream(x_prev.device()));
}

}  // namespace ng::cuda
