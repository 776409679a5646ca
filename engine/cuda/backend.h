// The CUDA backend's entry points: one per CPU kernel in engine/cpu/, with
// the same arguments, so an op dispatches with
//   if (x.device().is_cpu()) cpu::f(...); else NG_ON_CUDA("f", cuda::f(...));
// Each converts tensors to raw pointers, sizes and strides and calls a
// launcher in kernels/. All run on cuda::stream(device). The problem
// descriptions (NormLayout, AdamStep, ...) are kernels/layouts.h's, the same
// structs the CPU twin and the kernels take.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/tensor.h"
#include "kernels/fused_math.h"
#include "kernels/index_math.h"
#include "kernels/layouts.h"
#include "kernels/pointwise.h"
#include "kernels/unfold_math.h"

namespace ng::cuda {

// pointwise (engine/cuda/pointwise.cpp)
void unary(kernels::Unary op, const Tensor& out, const Tensor& a, double p0 = 0, double p1 = 0);
void binary(kernels::Binary op, const Tensor& out, const Tensor& a, const Tensor& b);
void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b);

// reductions (engine/cuda/reduce.cpp)
void reduce(kernels::ReduceOp op, const Tensor& out, const Tensor& in, const std::vector<bool>& reduced);

// matrix products (engine/cuda/linalg.cpp): out = a @ b + beta * out, batched
void gemm(const Tensor& out, const Tensor& a, const Tensor& b, double beta = 0.0);

// convolutions (engine/cuda/conv.cpp)
void conv2d_forward(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor& b, int64_t stride,
                    int64_t padding, const kernels::ConvEpilogue& epilogue = {});
void conv2d_input_grad(const Tensor& dx, const Tensor& dy, const Tensor& w, const Tensor& b, int64_t stride,
                       int64_t padding);
void conv2d_weight_grad(const Tensor& dw, const Tensor& x, const Tensor& dy, int64_t stride, int64_t padding);

// unfold (im2col) and fold (engine/cuda/unfold.cpp), as engine/cpu/unfold.h
void unfold(const Tensor& cols, const Tensor& x, const kernels::UnfoldGeometry& g);
void fold(const Tensor& x, const Tensor& cols, const kernels::UnfoldGeometry& g);

// pooling and resampling (engine/cuda/pool.cpp)
void avg_pool2d_forward(const Tensor& out, const Tensor& x, int64_t kernel, int64_t stride, int64_t padding);
void avg_pool2d_backward(const Tensor& dx, const Tensor& g, int64_t kernel, int64_t stride, int64_t padding);
void max_pool2d_select(const Tensor& out, const Tensor& x, const Tensor& v, int64_t kernel, int64_t stride,
                       int64_t padding);
void max_pool2d_scatter(const Tensor& dx, const Tensor& x, const Tensor& g, int64_t kernel, int64_t stride,
                        int64_t padding);
void upsample_nearest2d_forward(const Tensor& out, const Tensor& x, int64_t scale);
void upsample_nearest2d_backward(const Tensor& dx, const Tensor& g, int64_t scale);

// index ops (engine/cuda/index.cpp), as engine/cpu/index.h
void gather(const Tensor& out, const Tensor& x, const Tensor& index, const kernels::AroundDim& x_shape);
void gather_backward(const Tensor& dx, const Tensor& index, const Tensor& g, const kernels::AroundDim& x_shape);
void argmax(const Tensor& out, const Tensor& x, const kernels::AroundDim& x_shape);

// normalisation and softmax (engine/cuda/norm.cpp, engine/cuda/softmax.cpp)
void norm_forward(const kernels::NormLayout& l, const Tensor& x, const Tensor& weight, const Tensor& bias, double eps,
                  const Tensor& y, const Tensor& mean, const Tensor& rstd, const Tensor& var,
                  kernels::NormEpilogue epilogue = kernels::NormEpilogue::none);
void norm_silu_grad(const kernels::NormLayout& l, const Tensor& gz, const Tensor& x, const Tensor& weight,
                    const Tensor& bias, const Tensor& mean, const Tensor& rstd, const Tensor& gy);
void norm_backward(const kernels::NormLayout& l, const Tensor& gy, const Tensor& x, const Tensor& mean,
                   const Tensor& rstd, const Tensor& weight, const Tensor& gx, const Tensor& gw, const Tensor& gb);
void softmax_forward(const kernels::SoftmaxLayout& l, const Tensor& x, const Tensor& y, bool log);
void softmax_backward(const kernels::SoftmaxLayout& l, const Tensor& g, const Tensor& y, const Tensor& gx, bool log);

// random numbers (engine/cuda/random.cpp): the CPU's Philox streams exactly
void uniform(const Tensor& out, uint64_t seed, uint64_t offset);
void normal(const Tensor& out, uint64_t seed, uint64_t offset);
void bernoulli(const Tensor& out, const Tensor& p, uint64_t seed, uint64_t offset);
void dropout_mask(const Tensor& keep, double p, uint64_t seed, uint64_t offset);

// optimizers (engine/cuda/optim.cpp)
struct AdamTensors {  // one parameter's tensors for the multi-tensor update
  Tensor p, g, m, v;
};
void adam_step(const kernels::AdamStep& s, const Tensor& p, const Tensor& g, const Tensor& m, const Tensor& v);
// Every parameter of one dtype and device in ONE launch (no CPU twin: the
// CPU updates parameter by parameter with adam_step).
void adam_step_multi(const kernels::AdamStep& s, const std::vector<AdamTensors>& params);
// average = average * decay + value * (1 - decay) for every pair, all of one
// dtype and device, in ONE launch (the CPU twin, cpu::ema_update, goes pair by pair).
void ema_update_multi(double decay, const std::vector<std::pair<Tensor, Tensor>>& average_value);
// Gradient clipping by the joint norm of `grads` (contiguous, one dtype and
// device) in three launches (kernels/grad_clip.h): scales them in place by
// PyTorch's rule and returns the norm before clipping, a float64 scalar on
// the device. The CPU twin is the composite, optim::clip_grad_norm.
Tensor clip_grad_norm_multi(const std::vector<Tensor>& grads, double max_norm);
// How many times a multi-tensor launch (Adam, the EMA, the clip) has had to
// upload its argument bytes; a launch whose bytes are on the device already
// (engine/cuda/argument_cache.h) uploads nothing.
int64_t multi_tensor_argument_uploads();

// fused model kernels (engine/cuda/fused.cpp)
void reparam_forward(const Tensor& z, const Tensor& eps, const Tensor& mu, const Tensor& logvar, bool draw,
                     uint64_t seed, uint64_t offset);
void reparam_backward(const Tensor& dlogvar, const Tensor& g, const Tensor& logvar, const Tensor& eps);
void q_sample(const Tensor& x_t, const Tensor& eps, const Tensor& x0, const Tensor& coef, uint64_t seed,
              uint64_t offset);
void p_sample(const Tensor& x_prev, const Tensor& x_t, const Tensor& eps_pred,
              const kernels::PSampleCoefficients<double>& c, bool noise, uint64_t seed, uint64_t offset);
void ddim_step(const Tensor& x_prev, const Tensor& x_t, const Tensor& eps_pred,
               const kernels::DDIMCoefficients<double>& c, bool noise, uint64_t seed, uint64_t offset);

// memory (engine/cuda/memory.cpp)
void* alloc(size_t nbytes, int device);
void free(void* ptr);
void copy(const Tensor& dst, const Tensor& src);  // any devices, same shape, converts dtype
void fill(const Tensor& dst, double value);

}  // namespace ng::cuda
