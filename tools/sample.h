// `nanogen sample RUN`: images from a run's last checkpoint, whatever the model.
#pragma once

#include <string>

#include "engine/device.h"
#include "engine/tensor.h"

namespace ng::tools {

struct SampleOptions {
  int64_t n = 64;
  uint64_t seed = 0;
  std::string device = "auto";
  std::string precision = "auto";     // matmul precision on a GPU (engine/precision.h)
  // DDPM: the sampler `nanogen eval` uses by default too (1000 ancestral
  // steps take about a quarter of an hour for 64 images on two CPU cores).
  std::string sampler = "ddim";       // ancestral | ddim
  int64_t steps = -1;                 // sampling steps (0: all timesteps; -1: default_sampling_steps)
  double eta = 0.0;                   // DDIM: 0 deterministic, 1 ancestral-like
  // Class-conditional models: the classes to draw ("all", names or indices,
  // comma-separated; tools/class_grid.h) and how many images of each (n is
  // then ignored); the DDPM's guidance scale (-1: the run's own).
  std::string classes;                // empty: all
  int64_t per_class = 8;
  double guidance_scale = -1;
};

// Reads RUN/config.json to find the model and returns [n,C,H,W] in [0,1]:
// n images, or for a conditional model per_class images of each class asked
// for, the classes one after another.
Tensor sample_run(const std::string& run, const SampleOptions& options);

}  // namespace ng::tools
