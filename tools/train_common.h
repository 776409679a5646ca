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
};

nlohmann::json to_json(const CommonOptions& o);
void from_json(const nlohmann::json& j, CommonOptions& o);

// "auto" picks the GPU when one is visible.
Device resolve_device(const std::string& name);

// Seeds of the independent random streams of a run, derived from --seed.
struct Streams {
  static uint64_t init(uint64_t seed) { return seed * 4 + 0; }     // weights
  static uint64_t noise(uint64_t seed) { return seed * 4 + 1; }    // training noise
  static uint64_t eval(uint64_t seed) { return seed * 4 + 2; }     // evaluation noise
  static uint64_t fixed(uint64_t seed) { return seed * 4 + 3; }    // the fixed sample batch
};

// load_dataset, keeping only the first `limit` images when limit > 0.
Dataset load_dataset_limited(const std::string& spec, const std::string& split, int64_t limit);

// The loader every trainer draws from: whole batches of --batch-size in an
// order reshuffled each epoch from --seed.
DataLoader training_loader(const Dataset& train, const CommonOptions& common);

// Starts an epoch of the loader and skips the batches a resumed run has
// already trained on (the order is a function of seed and epoch alone).
void start_epoch_at(DataLoader& loader, int64_t epoch, int64_t skip_batches);

// When resuming a run that has a config.json: returns it and takes the run's
// own common options over the command line's, except how long to train
// (--epochs, --max-steps). Otherwise returns null. Throws when the run is
// of another model.
nlohmann::json resumed_config(const RunFolder& run, CommonOptions& common, const std::string& model);

// Where a run stands: written into every checkpoint's metadata with the
// state of its training-noise stream, and read back on --resume.
struct TrainingPosition {
  int64_t epoch = 1;          // the epoch being (or next to be) trained, 1-based
  int64_t step_in_epoch = 0;  // batches of it already trained on
  int64_t global_step = 0;    // optimizer steps in all
};

// A checkpoint's metadata. An epoch-end checkpoint points at the start of
// the next epoch.
Metadata checkpoint_metadata(const std::string& model, const TrainingPosition& position, bool epoch_end,
                             const Generator& noise, const nlohmann::json& config);
// Reads the position back and restores the noise stream.
TrainingPosition restore_position(const Metadata& metadata, Generator& noise);

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
// Starts a new peak on a CUDA device (the current use); nothing on the CPU.
void reset_peak_memory(Device device);

// Records a session cut short mid-epoch (Ctrl-C or the StopRule) after its
// checkpoint was saved: a "stop" row in metrics.csv with the partial epoch's
// training time (which no "epoch" row will report) and a log line saying how
// to continue. Clears the interrupt request.
void record_early_stop(RunFolder& run, const StopRule& stop, int64_t epoch, int64_t global_step, double seconds);

// printf-style formatting of one number, for log lines.
std::string fmt(const char* format, double value);

// Throws a clear error when a loss is not finite.
void check_finite(double value, const std::string& what, int64_t step);

}  // namespace ng::tools
