// An exponential moving average of a module's parameters (and a copy of its
// buffers), as DDPM samples from: shadow = d * shadow + (1 - d) * param.
#pragma once

#include "engine/nn/module.h"

namespace ng::optim {

class EMA {
 public:
  // With warmup the decay ramps up as min(decay, (1 + n) / (10 + n)) after n
  // updates, so early averages are not dominated by the random init.
  EMA(const nn::Module& model, double decay = 0.9999, bool warmup = true);

  void update(const nn::Module& model);
  // Copies the averaged weights into a module of the same architecture.
  void copy_to(nn::Module& model) const;
  double current_decay() const;
  int64_t updates() const { return updates_; }

  // "ema.<name>" tensors plus "ema.updates", for checkpoints.
  nn::NamedTensors state() const;
  void load_state(const nn::NamedTensors& state);

 private:
  nn::NamedTensors shadow_;  // parameters and buffers, detached copies
  size_t num_params_ = 0;
  double decay_;
  bool warmup_;
  int64_t updates_ = 0;
};

}  // namespace ng::optim
