// Adam on the GPU (kernels/adam.cu): the per-parameter update the CPU twin
// has, and the multi-tensor update the optimizer uses for all of a step's
// CUDA parameters at once; the EMA's multi-tensor update (kernels/ema.cu);
// gradient clipping in three launches (kernels/grad_clip.cu).
#include "engine/cuda/argument_cache.h"
#include "engine/cuda/backend.h"
#include "engine/cuda/runtime.h"
#include "engine/cuda/staging.h"
#include "engine/cuda/workspace.h"
#include "engine/error.h"
#include "kernels/adam.h"
#include "kernels/ema.h"
#include "kernels/grad_clip.h"

namespace ng::cuda {

namespace {

kernels::AdamTensor describe(const Tensor& p, const Tensor& g, const Tensor& m, const Tensor& v) {
  for (const Tensor* t : {&p, &g, &m, &v}) {
    NG_CHECK(t->is_contiguous() && t->shape() == p.shape() && t->dtype() == p.dtype() && t->device() == p.device(),
             "cuda::adam_step: p, g, m, v must be contiguous with one shape, dtype and device; got ",
             shape_str(t->shape()), " for a parameter of ", shape_str(p.shape()));
  }
  return {p.raw_data(), g.raw_data(), m.raw_data(), v.raw_data(), p.numel()};
}

// The device copies of the argument bytes of recent launches
// (engine/cuda/argument_cache.h): a step's Adam, EMA and clipping find
// theirs from the step before and upload nothing.
ArgumentCache<Tensor>& argument_cache() {
  static ArgumentCache<Tensor>* cache = new ArgumentCache<Tensor>;  // never destroyed, like the allocator's pool
  return *cache;
}

// A multi-tensor launch (kernels/multi_tensor.h): the tensors' descriptions
// and chunk map packed, found on the device or uploaded there without
// waiting, then launch(args, device copy).
template <class TensorT, class Launch>
void run_multi_tensor(const std::vector<TensorT>& tensors, Device device, const Launch& launch) {
  const kernels::MultiTensorArguments args = kernels::multi_tensor_arguments(tensors);
  if (args.chunks == 0) return;
  const Tensor& on_device = argument_cache().get(device.index, args.bytes, [&](const std::vector<unsigned char>& b) {
    Tensor ws = workspace(b.size(), device);
    upload_async(ws.raw_data(), b.data(), b.size(), device.index, stream(device));
    return ws;
  });
  launch(args, on_device.raw_data());
}

}  // namespace

void adam_step(const kernels::AdamStep& s, const Tensor& p, const Tensor& g, const Tensor& m, const Tensor& v) {
  kernels::launch_adam(scalar_type(p.dtype()), s, describe(p, g, m, v), stream(p.device()));
}

void adam_step_multi(const kernels::AdamStep& s, const std::vector<cuda::AdamTensors>& params) {
  if (params.empty()) return;
  const Tensor& first = params.front().p;
  std::vector<kernels::AdamTensor> tensors;
  tensors.reserve(params.size());
  for (const cuda::AdamTensors& x : params) {
    NG_CHECK(x.p.dtype() == first.dtype() && x.p.device() == first.device(), "cuda::adam_step_multi: parameter ",
             shape_str(x.p.shape()), " is ", dtype_name(x.p.dtype()), " on ", x.p.device().str(), ", the first is ",
             dtype_name(first.dtype()), " on ", first.device().str(), "; one launch takes one dtype and device");
    tensors.push_back(describe(x.p, x.g, x.m, x.v));
  }
  run_multi_tensor(tensors, first.device(), [&](const kernels::MultiTensorArguments& args, const void* on_device) {
    kernels::launch_adam_multi(scalar_type(first.dtype()), s, args, on_device, stream(first.device()));
  });
}

void ema_update_multi(double decay, const std::vector<std::pair<Tensor, Tensor>>& average_value) {
  if (average_value.empty()) return;
  const Tensor& first = average_value.front().first;
  std::vector<kernels::EmaTensor> tensors;
  tensors.reserve(average_value.size());
  for (const auto& [average, value] : average_value) {
    NG_CHECK(average.is_contiguous() && value.is_contiguous() && average.shape() == value.shape() &&
                 average.dtype() == first.dtype() && value.dtype() == first.dtype() &&
                 average.device() == first.device() && value.device() == first.device(),
             "cuda::ema_update_multi: every average and value must be contiguous, of one shape, and of the first's ",
             "dtype and device; got ", shape_str(average.shape()), " and ", shape_str(value.shape()));
    tensors.push_back({average.raw_data(), value.raw_data(), average.numel()});
  }
  run_multi_tensor(tensors, first.device(), [&](const kernels::MultiTensorArguments& args, const void* on_device) {
    kernels::launch_ema_multi(scalar_type(first.dtype()), decay, args, on_device, stream(first.device()));
  });
}

Tensor clip_grad_norm_multi(const std::vector<Tensor>& grads, double max_norm) {
  NG_CHECK(!grads.empty(), "cuda::clip_grad_norm_multi: no gradients");
  const Tensor& first = grads.front();
  std::vector<kernels::ClipTensor> tensors;
  tensors.reserve(grads.size());
  for (const Tensor& g : grads) {
    NG_CHECK(g.is_contiguous() && g.dtype() == first.dtype() && g.device() == first.device(),
             "cuda::clip_grad_norm_multi: every gradient must be contiguous and of the first's dtype and device; got ",
             shape_str(g.shape()), " ", dtype_name(g.dtype()), " on ", g.device().str());
    tensors.push_back({g.raw_data(), g.numel()});
  }
  const TensorOptions f64 = TensorOptions{}.with_dtype(DType::f64).with_device(first.device());
  Tensor norm = empty({}, f64);
  bool launched = false;
  run_multi_tensor(tensors, first.device(), [&](const kernels::MultiTensorArguments& args, const void* on_device) {
    const Tensor scratch = empty({int64_t(args.chunks) + 1}, f64);
    kernels::launch_clip_grad_norm_multi(scalar_type(first.dtype()), max_norm, args, on_device,
                                         scratch.data<double>(), norm.data<double>(), stream(first.device()));
    launched = true;
  });
  if (!launched) norm.zero_();  // every gradient is empty: the norm is 0
  return norm;
}

int64_t multi_tensor_argument_uploads() { return argument_cache().uploads(); }

}  // namespace ng::cuda
