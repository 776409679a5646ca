#include "engine/optim/ema.h"

#include <algorithm>
#include <map>

#include "engine/autograd.h"
#include "engine/cpu/ema.h"
#include "engine/error.h"
#include "engine/ops/dispatch.h"
#include "engine/ops/elementwise.h"
#include "engine/optim/optimizer.h"

namespace ng::optim {

EMA::EMA(const nn::Module& model, double decay, bool warmup) : decay_(decay), warmup_(warmup) {
  NoGradGuard no_grad;
  for (auto& [n, p] : model.named_parameters()) shadow_.emplace_back(n, p.detach().clone());
  num_params_ = shadow_.size();
  for (auto& [n, b] : model.named_buffers()) shadow_.emplace_back(n, b.detach().clone());
}

double EMA::current_decay() const {
  if (!warmup_) return decay_;
  return std::min(decay_, (1.0 + double(updates_)) / (10.0 + double(updates_)));
}

void EMA::update(const nn::Module& model) {
  NoGradGuard no_grad;
  const double d = current_decay();
  const nn::NamedTensors params = model.named_parameters(), buffers = model.named_buffers();
  NG_CHECK(params.size() == num_params_ && buffers.size() == shadow_.size() - num_params_,
           "EMA: the model's parameters do not match the averaged ones");
  // One pass a tensor on the CPU; on a GPU one launch for all of a device's
  // tensors of a dtype. Both give the bits of mul_(s, d); add_(s, p, 1 - d).
  std::map<std::pair<int, DType>, std::vector<std::pair<Tensor, Tensor>>> on_gpu;
  for (size_t i = 0; i < num_params_; ++i) {
    Tensor& s = shadow_[i].second;
    const Tensor p = params[i].second.detach();
    NG_CHECK(s.shape() == p.shape() && s.dtype() == p.dtype() && s.device() == p.device(), "EMA: parameter '",
             shadow_[i].first, "' is ", shape_str(p.shape()), " ", dtype_name(p.dtype()), " on ", p.device().str(),
             ", its average ", shape_str(s.shape()), " ", dtype_name(s.dtype()), " on ", s.device().str());
    if (!p.is_contiguous() || !s.is_contiguous()) {
      mul_(s, d);
      add_(s, p, 1.0 - d);
    } else if (s.device().is_cpu()) {
      cpu::ema_update(s, p, d);
    } else {
      on_gpu[{s.device().index, s.dtype()}].emplace_back(s, p);
    }
  }
  for (const auto& entry : on_gpu) {
    [[maybe_unused]] const auto& group = entry.second;  // unused in a build without CUDA
    NG_ON_CUDA("EMA", cuda::ema_update_multi(d, group), group.front().first);
  }
  for (size_t i = 0; i < buffers.size(); ++i) shadow_[num_params_ + i].second.copy_(buffers[i].second);
  ++updates_;
}

void EMA::copy_to(nn::Module& model) const { model.load_state_dict(shadow_); }

nn::NamedTensors EMA::state() const {
  nn::NamedTensors out;
  out.emplace_back("ema.updates", scalar_tensor(double(updates_), TensorOptions{}.with_dtype(DType::f64)));
  for (const auto& [n, t] : shadow_) out.emplace_back("ema." + n, t);
  return out;
}

void EMA::load_state(const nn::NamedTensors& state) {
  std::map<std::string, Tensor> given(state.begin(), state.end());
  NG_CHECK(given.count("ema.updates"), "EMA: the saved state has no 'ema.updates'");
  updates_ = saved_count(given.at("ema.updates"), "EMA: the saved 'ema.updates'");
  NoGradGuard no_grad;
  for (auto& [n, t] : shadow_) {
    auto it = given.find("ema." + n);
    NG_CHECK(it != given.end(), "EMA: the saved state lacks 'ema.", n, "'");
    NG_CHECK(it->second.shape() == t.shape(), "EMA: saved 'ema.", n, "' has shape ", shape_str(it->second.shape()),
             ", expected ", shape_str(t.shape()));
    t.copy_(it->second);
  }
}

}  // namespace ng::optim
