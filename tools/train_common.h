// Options every `nanogen train <model>` shares, and helpers the trainers use.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/data/dataset.h"
#include "engine/data/loader.h"
#include "engine/device.h"
#include "engine/ops/random.h"
#include "engine/tensor.h"
#include "tools/run_folder.h"

namespace ng::tools {

struct CommonOptions {
  std::string data = "fashion-mnist";  // fashion-mnist | mnist:DIR | cifar10:DIR | folder:DIR
  std::string device = "auto";         // auto | cpu | cuda | cuda:N
  int64_t epochs = 3;
  int64_t max_steps = 0;     // stop after this many steps in all (0: no limit)
  double time_limit = 0;     // stop after this many seconds of training in this session (0: no limit)
  int64_t batch_size = 64;
  double lr = 1e-3;
  uint64_t seed = 0;
  std::string out;           // run folder; default runs/<model>
  bool resume = false;
  int64_t log_every = 50;    // steps between metrics rows
  int64_t limit = 0;         // use only the first N training images (0: all)
  int64_t test_limit = 0;    // use only the first N test images (0: all)
  int threads = 0;           // CPU threads (0: all cores)
  std::string precision = "auto";  // auto | fp32 | tf32 | bf16 (engine/precision.h)
  bool sync_batch_norm = false;     // data-parallel runs: batch norm over every rank's batch
  double bucket_mb = 4;             // data-parallel runs: MiB of gradients per all-reduce (0: one after backward)
};

// config.json's "common": every option, those missing from an older run's file at their defaults.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(CommonOptions, data, device, epochs, max_steps, time_limit,
                                                batch_size, lr, seed, out, resume, log_every, limit, test_limit,
                                                threads, precision, sync_batch_norm, bucket_mb)

// Refuses options that mean nothing (--epochs -2, --log-every 0, --lr -1,
// ...) with a message naming the option and what it must be. Every trainer
// calls it before any work.
void check_common_options(const CommonOptions& o);

// "auto" picks the GPU when one is visible.
Device resolve_device(const std::string& name);
// The device as resolve_device finds it, with the process's matmul and
// convolution precision set for it from --precision (resolve_precision in
// engine/precision.h: an unknown name, or tf32/bf16 where there are no
// tensor cores, is an error here, before any work starts).
Device resolve_device(const std::string& name, const std::string& precision);

// Seeds of the independent random streams of a run, derived from --seed.
struct Streams {
  static uint64_t init(uint64_t seed) { return seed * 4 + 0; }     // weights
  static uint64_t noise(uint64_t seed) { return seed * 4 + 1; }    // training noise
  static uint64_t eval(uint64_t seed) { return seed * 4 + 2; }     // evaluation noise
  static uint64_t fixed(uint64_t seed) { return seed * 4 + 3; }    // the fixed sample batch
};

// load_dataset, keeping only the first `limit` images when limit > 0.
Dataset load_dataset_limited(const std::string& spec, const std::string& split, int64_t limit);

// Throws unless a run's config.json says it is a run of `model`.
void check_run_model(const nlohmann::json& config, const std::string& path, const std::string& model);

// The C, H, W of a run's images, from its config.json's "image": three
// positive whole numbers, or an error naming the run (a hand-edited or
// damaged config must not reach the models as a shape).
struct ImageShape {
  int64_t channels, height, width;
};
ImageShape run_image_shape(const nlohmann::json& config, const std::string& path);

// The classes of a run's data set, from its config.json's "classes":
// {"count": 10, "names": ["T-shirt/top", ...]} (names may be empty). A run
// from before labels were recorded, or on unlabelled images, has count 0.
struct RunClasses {
  int64_t count = 0;
  std::vector<std::string> names;
};
RunClasses run_classes(const nlohmann::json& config, const std::string& path);
nlohmann::json classes_json(const Dataset& dataset);  // what the trainer records

// What a divergence message ends with (after "... became nan at step N").
inline constexpr const char* kDivergedAdvice =
    "; training diverged (try a lower --lr); the run folder keeps its last checkpoint, if it has one";

// Refuses tensors holding NaN or infinite values, naming the first such
// tensor and `where` it came from: a checkpoint written after a run diverged
// would otherwise resume into NaN losses or sample a black grid.
void check_finite_tensors(const NamedTensors& tensors, const std::string& where);

// A run folder opened for sampling or evaluation: its config.json and last
// checkpoint, checked to be a run of `model`. Reads only; creates nothing.
struct SavedRun {
  nlohmann::json config;
  SafetensorsContent checkpoint;
};
SavedRun open_saved_run(const std::string& path, const std::string& model);

// When a session stops before its last epoch: --max-steps (optimizer steps
// in all) or --time-limit (seconds since the session started training). The
// trainers checkpoint and stop at the first step where either is reached,
// so runs of different models can be given the same budget.
class StopRule {
 public:
  explicit StopRule(const CommonOptions& o);
  bool reached(int64_t global_step) const;
  // "reached --max-steps" or "reached --time-limit (300 s)".
  std::string reason(int64_t global_step) const;

 private:
  int64_t max_steps_;
  double time_limit_;
  std::chrono::steady_clock::time_point start_;
};

// Peak memory in MiB (2^20 bytes), for the metrics of an epoch or of sampling.
// The two devices measure different things, so compare numbers of one device only:
//   CUDA: the most bytes the caching allocator had handed out to live tensors
//         since the last reset_peak_memory (not the blocks it keeps cached, nor
//         the CUDA context or library workspaces);
//   CPU:  the process's peak resident set (getrusage's ru_maxrss) since it
//         started: code, the data set, every tensor; it cannot be reset.
double peak_memory_mb(Device device);
// The memory the kernel says is available to a new allocation now
// (MemAvailable in /proc/meminfo, or less where a cgroup's memory.max
// leaves less), in bytes; 0 where it cannot tell.
double available_memory_bytes();
// Starts a new peak on a CUDA device (the current use); nothing on the CPU.
void reset_peak_memory(Device device);

// printf-style formatting of one number, for log lines.
std::string fmt(const char* format, double value);

// Throws a clear error when a loss is not finite.
void check_finite(double value, const std::string& what, int64_t step);

}  // namespace ng::tools
