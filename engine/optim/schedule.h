// Learning-rate schedules: a linear warm-up followed by a constant or a
// cosine decay, as a pure function of the step.
#pragma once

#include <cstdint>
#include <string>

namespace ng::optim {

struct Schedule {
  enum class Kind { constant, cosine };
  Kind kind = Kind::constant;
  double base_lr = 1e-3;
  int64_t warmup_steps = 0;  // lr rises linearly from base_lr/warmup to base_lr
  int64_t total_steps = 0;   // cosine: reaches min_lr at total_steps
  double min_lr = 0.0;

  // The learning rate for step (0-based: the lr used by the first update is at(0)).
  double at(int64_t step) const;
  static Kind parse(const std::string& name);  // "constant" or "cosine"
};

}  // namespace ng::optim
