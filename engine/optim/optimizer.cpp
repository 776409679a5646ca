#include "engine/optim/optimizer.h"

#include <cmath>
#include <map>
#include <set>

#include "engine/autograd.h"
#include "engine/cpu/adam.h"
#include "engine/error.h"
#include "engine/memory.h"
#include "engine/ops/dispatch.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/reduce.h"

namespace ng::optim {

Optimizer::Optimizer(nn::NamedTensors params, double lr_) : lr(lr_), params_(std::move(params)) {
  slots_.resize(params_.size());
}

void Optimizer::step() {
  NoGradGuard no_grad;
  ++steps_;
  const size_t n_slots = slot_names().size();
  std::vector<PendingUpdate> updates;
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor& p = params_[i].second;
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    NG_CHECK(g.shape() == p.shape(), "optimizer: gradient ", shape_str(g.shape()), " of ", params_[i].first,
             " does not match the parameter ", shape_str(p.shape()));
    if (slots_[i].empty())
      for (size_t k = 0; k < n_slots; ++k) slots_[i].push_back(zeros_like(p));
    updates.push_back({&p, g, &slots_[i]});
  }
  apply_updates(updates);
}

void Optimizer::apply_updates(const std::vector<PendingUpdate>& updates) {
  for (const PendingUpdate& u : updates) update(*u.param, u.grad, *u.slots);
}

void Optimizer::zero_grad() {
  for (auto& [n, p] : params_) p.zero_grad();
}

nn::NamedTensors Optimizer::state() const {
  nn::NamedTensors out;
  out.emplace_back("step", scalar_tensor(double(steps_), TensorOptions{}.with_dtype(DType::f64)));
  const std::vector<std::string> names = slot_names();
  for (size_t i = 0; i < params_.size(); ++i)
    for (size_t k = 0; k < slots_[i].size(); ++k) out.emplace_back(params_[i].first + "." + names[k], slots_[i][k]);
  return out;
}

int64_t saved_count(const Tensor& t, const std::string& what) {
  NG_CHECK(t.numel() == 1, what, " holds ", t.numel(), " values; expected one (a count)");
  const double v = t.item();
  NG_CHECK(std::isfinite(v) && v >= 0 && v <= 0x1p53 && v == std::floor(v), what, " is ", v,
           "; expected a whole number of steps from 0 to 2^53 (is the checkpoint damaged?)");
  return int64_t(v);
}

void Optimizer::load_state(const nn::NamedTensors& state) {
  std::map<std::string, Tensor> given(state.begin(), state.end());
  NG_CHECK(given.count("step"), "optimizer: the saved state has no 'step'");
  steps_ = saved_count(given.at("step"), "optimizer: the saved 'step'");
  const std::vector<std::string> names = slot_names();
  // Every saved name must be one this optimizer would have written.
  std::set<std::string> known{"step"};
  for (const auto& [name, p] : params_)
    for (const std::string& slot : names) known.insert(name + "." + slot);
  for (const auto& [name, t] : given)
    NG_CHECK(known.count(name), "optimizer: the saved state has '", name,
             "', which is no slot of this optimizer's parameters (a checkpoint of another model?)");
  NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    slots_[i].clear();
    for (const std::string& slot : names) {
      const std::string key = params_[i].first + "." + slot;
      auto it = given.find(key);
      if (it == given.end()) {
        // A parameter that never had a gradient has no state: fine only if
        // no slot of it was saved.
        NG_CHECK(slots_[i].empty(), "optimizer: the saved state lacks '", key, "'");
        break;
      }
      const Tensor& p = params_[i].second;
      NG_CHECK(it->second.shape() == p.shape(), "optimizer: saved '", key, "' has shape ",
               shape_str(it->second.shape()), ", the parameter has ", shape_str(p.shape()));
      slots_[i].push_back(it->second.to(p.dtype()).to(p.device()).clone());
    }
  }
}

// ---- SGD ---------------------------------------------------------------------------

SGD::SGD(nn::NamedTensors params, SGDOptions o) : Optimizer(std::move(params), o.lr), options(o) {
  NG_CHECK(!o.nesterov || o.momentum > 0, "SGD: Nesterov momentum needs momentum > 0");
}

std::vector<std::string> SGD::slot_names() const {
  return options.momentum != 0 ? std::vector<std::string>{"momentum_buffer"} : std::vector<std::string>{};
}

// PyTorch's SGD: d = g + wd p; buf = m buf + d (buf = d at the first step);
// d = nesterov ? d + m buf : buf; p -= lr d.
void SGD::update(Tensor& p, const Tensor& g, std::vector<Tensor>& slots) {
  const double m = options.momentum;
  Tensor d = options.weight_decay != 0 ? g + p * options.weight_decay : g;
  if (m != 0) {
    Tensor& buf = slots[0];
    if (steps_ == 1)
      buf.copy_(d);
    else
      buf.copy_(buf * m + d);
    d = options.nesterov ? d + buf * m : buf;
  }
  add_(p, d, -lr);
}

// ---- Adam ----------------------------------------------------------------------------

Adam::Adam(nn::NamedTensors params, AdamOptions o) : Optimizer(std::move(params), o.lr), options(o) {
  NG_CHECK(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1, "Adam: betas must be in [0, 1), got (",
           o.beta1, ", ", o.beta2, ")");
}

std::vector<std::string> Adam::slot_names() const { return {"exp_avg", "exp_avg_sq"}; }

kernels::AdamStep Adam::settings() const {
  kernels::AdamStep s;
  s.lr = lr;  // the live value, which a schedule may change
  s.beta1 = options.beta1;
  s.beta2 = options.beta2;
  s.eps = options.eps;
  s.weight_decay = options.weight_decay;
  s.decoupled = options.decoupled;
  s.step = steps_;
  return s;
}

static void check_adam_operands(Tensor& p, const std::vector<Tensor>& slots) {
  NG_CHECK(p.is_contiguous() && slots[0].is_contiguous() && slots[1].is_contiguous(),
           "Adam: parameters and state must be contiguous");
  check_inplace(p, "Adam");
}

void Adam::update(Tensor& p, const Tensor& g, std::vector<Tensor>& slots) {
  check_adam_operands(p, slots);
  if (p.device().is_cpu())
    cpu::adam_step(settings(), p, g.contiguous(), slots[0], slots[1]);
  else
    NG_ON_CUDA("Adam", cuda::adam_step(settings(), p, g.contiguous(), slots[0], slots[1]), p);
}

// CPU parameters go one by one, as always. CUDA parameters are gathered per
// (device, dtype) and updated in ONE multi-tensor launch each: a model's
// dozens of small parameters would otherwise cost a launch apiece.
void Adam::apply_updates(const std::vector<PendingUpdate>& updates) {
#ifdef NANOGEN_WITH_CUDA
  std::map<std::pair<int, DType>, std::vector<cuda::AdamTensors>> on_gpu;
  for (const PendingUpdate& u : updates) {
    Tensor& p = *u.param;
    if (p.device().is_cpu()) {
      update(p, u.grad, *u.slots);
      continue;
    }
    check_adam_operands(p, *u.slots);
    on_gpu[{p.device().index, p.dtype()}].push_back({p, u.grad.contiguous(), (*u.slots)[0], (*u.slots)[1]});
  }
  for (const auto& group : on_gpu) NG_ON_CUDA("Adam", cuda::adam_step_multi(settings(), group.second));
#else
  for (const PendingUpdate& u : updates) update(*u.param, u.grad, *u.slots);  // a build without CUDA: all on the CPU
#endif
}

// ---- clipping -------------------------------------------------------------------------

Tensor grad_norm_tensor(const std::vector<Tensor>& params) {
  NoGradGuard no_grad;
  Tensor total;  // float64, on the gradients' device
  for (const Tensor& p : params) {
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    NG_CHECK(!total.defined() || total.device() == g.device(), "grad_norm: gradients on ", total.device().str(),
             " and ", g.device().str(), "; the joint norm needs them on one device");
    const Tensor squares = sum(square(g)).to(DType::f64);
    total = total.defined() ? total + squares : squares;
  }
  return total.defined() ? sqrt(total) : scalar_tensor(0.0, TensorOptions{}.with_dtype(DType::f64));
}

double grad_norm(const std::vector<Tensor>& params) { return grad_norm_tensor(params).item(); }

#ifdef NANOGEN_WITH_CUDA
namespace {

// The gradients of `params` when they can take the GPU's three-launch clip:
// all on one CUDA device, of one dtype, dense, each listed once; else none.
// (A parameter listed twice counts twice in the composite's norm and is
// scaled twice; in one launch two blocks would scale it at the same time.)
std::vector<Tensor> gradients_for_the_gpu_clip(const std::vector<Tensor>& params) {
  std::vector<Tensor> grads;
  std::set<const void*> seen;
  for (const Tensor& p : params) {
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    const bool fits = g.device().is_cuda() && g.is_contiguous() &&
                      (grads.empty() || (g.device() == grads.front().device() && g.dtype() == grads.front().dtype()));
    if (!fits || (g.numel() > 0 && !seen.insert(g.raw_data()).second)) return {};
    grads.push_back(g);
  }
  return grads;
}

}  // namespace
#endif

Tensor clip_grad_norm(const std::vector<Tensor>& params, double max_norm) {
  NoGradGuard no_grad;
#ifdef NANOGEN_WITH_CUDA
  // On a GPU: three launches for the whole model, instead of about six a
  // parameter (the DDPM's U-Net has 124). The composite below is its twin.
  if (const std::vector<Tensor> grads = gradients_for_the_gpu_clip(params); !grads.empty()) {
    Tensor norm;
    NG_ON_CUDA("clip_grad_norm", norm = cuda::clip_grad_norm_multi(grads, max_norm), grads.front());
    return norm;
  }
#endif
  const Tensor total = grad_norm_tensor(params);
  // As PyTorch: max_norm / (norm + 1e-6), applied only above the bound (else 1).
  const Tensor bound = full_like(total, max_norm);
  const Tensor scale = where(gt(total, max_norm), bound / (total + 1e-6), full_like(total, 1.0));
  std::map<DType, Tensor> scale_in;  // the scale rounded once to each gradient dtype
  for (const Tensor& p : params) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    Tensor& s = scale_in[g.dtype()];
    if (!s.defined()) s = scale.to(g.dtype());
    mul_(g, s);
  }
  return total;
}

}  // namespace ng::optim
