// Optimizers: SGD (momentum, Nesterov), Adam and AdamW, with their state
// exposed as named tensors so a checkpoint can resume them exactly.
#pragma once

#include <string>

#include "engine/cpu/adam.h"
#include "engine/nn/module.h"

namespace ng::optim {

// A step count read back from a checkpoint (a one-element tensor): a whole
// number from 0 to 2^53, or an error that names `what`.
int64_t saved_count(const Tensor& t, const std::string& what);

class Optimizer {
 public:
  // params: the module's named_parameters(); the names key the state.
  explicit Optimizer(nn::NamedTensors params, double lr);
  virtual ~Optimizer() = default;

  // One update from the parameters' .grad (parameters without one are skipped).
  void step();
  void zero_grad();

  double lr;
  int64_t steps() const { return steps_; }
  const nn::NamedTensors& params() const { return params_; }

  // "<param>.<slot>" tensors plus "step"; load_state checks the names.
  nn::NamedTensors state() const;
  void load_state(const nn::NamedTensors& state);

 protected:
  // Updates one parameter in place from its gradient; `slots` are this
  // optimizer's per-parameter state tensors (created zeroed on first use).
  virtual void update(Tensor& param, const Tensor& grad, std::vector<Tensor>& slots) = 0;

  // One parameter's share of a step.
  struct PendingUpdate {
    Tensor* param;
    Tensor grad;
    std::vector<Tensor>* slots;
  };
  // Applies all of a step's updates: update() one by one unless an optimizer
  // knows better (Adam sends all its CUDA parameters to one launch).
  virtual void apply_updates(const std::vector<PendingUpdate>& updates);
  virtual std::vector<std::string> slot_names() const = 0;

  nn::NamedTensors params_;
  std::vector<std::vector<Tensor>> slots_;  // per parameter
  int64_t steps_ = 0;
};

struct SGDOptions {
  double lr = 1e-2, momentum = 0.0, weight_decay = 0.0;
  bool nesterov = false;
};

class SGD : public Optimizer {
 public:
  SGD(nn::NamedTensors params, SGDOptions options);
  SGDOptions options;

 protected:
  void update(Tensor& param, const Tensor& grad, std::vector<Tensor>& slots) override;
  std::vector<std::string> slot_names() const override;
};

// Adam (Kingma & Ba) with PyTorch's operation order; weight_decay is an L2
// term added to the gradient. With `decoupled` it is AdamW (Loshchilov &
// Hutter): the weights decay directly, p *= 1 - lr * weight_decay.
struct AdamOptions {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.0;
  bool decoupled = false;
};

class Adam : public Optimizer {
 public:
  Adam(nn::NamedTensors params, AdamOptions options = {});
  AdamOptions options;

 protected:
  void update(Tensor& param, const Tensor& grad, std::vector<Tensor>& slots) override;
  void apply_updates(const std::vector<PendingUpdate>& updates) override;
  std::vector<std::string> slot_names() const override;

 private:
  kernels::AdamStep settings() const;  // this step's numbers, with the live lr
};

// AdamW with PyTorch's default weight decay of 0.01 unless given.
inline AdamOptions adamw_options(double lr = 1e-3, double weight_decay = 1e-2) {
  AdamOptions o;
  o.lr = lr;
  o.weight_decay = weight_decay;
  o.decoupled = true;
  return o;
}

// The joint L2 norm of the parameters' gradients (those without one count
// 0) as a float64 scalar on their device, computed there and not read back,
// so that a training step need not wait for the GPU. Each gradient's sum of
// squares is taken in its dtype and the sums added in float64.
Tensor grad_norm_tensor(const std::vector<Tensor>& params);
double grad_norm(const std::vector<Tensor>& params);  // the same, read back
// Scales all gradients by max_norm / (norm + 1e-6) where their joint norm is
// above max_norm (PyTorch's rule), on their device without reading anything
// back; returns the norm before clipping, as grad_norm_tensor.
Tensor clip_grad_norm(const std::vector<Tensor>& params, double max_norm);

}  // namespace ng::optim
