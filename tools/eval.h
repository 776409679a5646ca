// `nanogen eval RUN`: draws N samples from a run's last checkpoint and
// measures them against the data set's test split in the feature space of
// the data set's classifier; prints a table and writes RUN/eval.json and the
// pictures under RUN/eval/.
//
// RUN/eval.json (what `nanogen compare` reads; absent numbers are null):
// {
//   "run": "runs/vae", "model": "vae", "data": "fashion-mnist", "device": "cuda:0", "date": "2026-11-25T17:00:00Z",
//   "n": 10000, "seed": 0,
//   "sampler": {"name": "ddim", "steps": 100, "eta": 0.0},        // DDPM only, else null
//                                      // (+ "guidance_scale" for a conditional DDPM)
//   "classifier": {"path": "...", "feature_dim": 128, "test_accuracy": 0.92},
//   "metrics": {
//     "fid": 12.3, "kid_mean": 0.011, "kid_std": 0.001, "kid_subsets": 100, "kid_subset_size": 1000,
//     "precision": 0.7, "recall": 0.5, "pr_k": 3,
//     "conditional_entropy": 0.3, "marginal_entropy": 2.29, "classifier_score": 7.1,
//     "classes_covered": 10, "class_histogram": [0.1, ...],
//     "class_accuracy": 0.8,              // conditional models: samples classified as the class asked for
//     "class_accuracy_per_class": [{"class": 0, "name": "T-shirt/top", "accuracy": 0.8}, ...],  // else null
//     "bits_per_dim": 4.9, "bits_per_dim_images": 1000, "bits_per_dim_note": "...",
//     "nn_distance_median": 3.1,          // generated -> nearest training image (pixels, L2)
//     "nn_distance_median_test": 3.3      // test -> nearest training image: the same for real data
//   },
//   "reference": {"fid_train_vs_test": 1.2, "kid_train_vs_test": 0.0001,
//                 "precision_train_vs_test": 0.8, "recall_train_vs_test": 0.8},   // the floor, real vs real
//   "costs": {"parameters": 123456, "train_time_s": 300.0, "train_steps": 2800, "epochs": 3,
//             "train_peak_memory_mb": 900.0, "sample_time_per_image_ms": 0.5, "sample_peak_memory_mb": 800.0},
//   "images": {"samples": "eval/samples.png", "nearest": "eval/nearest.png",
//              "trajectory": "eval/trajectory.png" or null}
// }
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/device.h"

namespace ng::tools {

// The largest nearest-neighbour grid eval draws (--nearest-k, --nearest).
inline constexpr int64_t kMaxNearestK = 64, kMaxNearestQueries = 256;

// EvalOptions::guidance_scale when none is given: the run's --guidance-scale.
inline constexpr double kRunsGuidance = -1;

struct EvalOptions {
  int64_t n = -1;                    // generated samples (-1: with_defaults)
  int64_t batch_size = 500;          // samples per generator call
  uint64_t seed = 0;
  std::string device = "auto";
  std::string precision = "auto";    // matmul precision on a GPU (engine/precision.h)
  std::string sampler = "ddim";      // DDPM: ancestral | ddim
  int64_t steps = -1;                // DDPM: sampling steps (0: every timestep; -1: default_sampling_steps)
  double eta = 0.0;                  // DDIM
  double guidance_scale = -1;        // conditional DDPM: classifier-free guidance (kRunsGuidance: the run's own)
  std::string classifier;            // safetensors file; default: the data set's shipped one
  int64_t test_limit = 0;            // use only the first N test images (0: all)
  int64_t bound_images = -1;         // test images for bits/dim (0: skip; -1: with_defaults)
  int64_t bound_timesteps = -1;      // DDPM bound: timestep strata (0: all; -1: with_defaults)
  int64_t iw_samples = 64;           // VAE importance samples per image
  // What a VAE's "samples" are: "mean", E[x|z] for z ~ p(z) (the usual
  // choice, and the default); "draw", x ~ p(x|z) itself (binary pixels for a
  // Bernoulli decoder); "reconstruction", E[x|z] for z ~ q(z|x) of the first
  // n test images: a diagnostic that covers every mode by construction, so
  // what it lacks in recall is the decoder's blur, not mode dropping.
  std::string vae_output = "mean";
  int64_t nearest_queries = 8;       // samples shown with their nearest training images
  int64_t nearest_k = 5;
};

// The options left at -1 given their defaults for `model` on `device`:
// 10000 samples (the usual count for FID) and a bound on 1000 test images
// with 100 timestep strata, except for a DDPM on a CPU, where every sample
// and every term of the bound is a U-Net pass (about 20 ms an image on two
// cores): 1000 samples, 50 images and 20 strata there, about ten minutes.
// FID from fewer samples is biased upward, so runs are compared at equal
// --n (`nanogen compare` says when they are not).
EvalOptions with_defaults(EvalOptions o, const std::string& model, Device device);

// Runs the evaluation, writes RUN/eval.json and RUN/eval/*.png, returns the json.
nlohmann::json evaluate_run(const std::string& run, const EvalOptions& options);

// The table `nanogen eval` prints.
std::string eval_table(const nlohmann::json& report);

}  // namespace ng::tools
