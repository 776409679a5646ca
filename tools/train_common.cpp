#include "tools/train_common.h"

#include <sys/resource.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "engine/data/datasets.h"
#include "engine/error.h"
#include "tools/interrupt.h"
#ifdef NANOGEN_WITH_CUDA
#include "engine/cuda/allocator.h"
#endif

namespace ng::tools {

nlohmann::json to_json(const CommonOptions& o) {
  return {{"data", o.data},       {"device", o.device}, {"epochs", o.epochs},       {"max_steps", o.max_steps}, {"time_limit", o.time_limit},
          {"batch_size", o.batch_size}, {"lr", o.lr},   {"seed", o.seed},           {"out", o.out},
          {"log_every", o.log_every},   {"limit", o.limit}, {"test_limit", o.test_limit}};
}

void from_json(const nlohmann::json& j, CommonOptions& o) {
  o.data = j.value("data", o.data);
  o.device = j.value("device", o.device);
  o.epochs = j.value("epochs", o.epochs);
  o.max_steps = j.value("max_steps", o.max_steps);
  o.time_limit = j.value("time_limit", o.time_limit);
  o.batch_size = j.value("batch_size", o.batch_size);
  o.lr = j.value("lr", o.lr);
  o.seed = j.value("seed", o.seed);
  o.out = j.value("out", o.out);
  o.log_every = j.value("log_every", o.log_every);
  o.limit = j.value("limit", o.limit);
  o.test_limit = j.value("test_limit", o.test_limit);
}

Device resolve_device(const std::string& name) {
  if (name == "auto") return cuda_available() ? Device::cuda(0) : Device::cpu();
  const Device d = Device::parse(name);
  NG_CHECK(d.is_cpu() || cuda_available(), "--device ", name,
           ": no GPU is visible (or this build has no CUDA backend); use --device cpu");
  return d;
}

Dataset load_dataset_limited(const std::string& spec, const std::string& split, int64_t limit) {
  Dataset d = load_dataset(spec, split);
  if (limit > 0 && limit < d.size()) {
    d.images = d.images.narrow(0, 0, limit).contiguous();
    d.labels.resize(size_t(limit));
  }
  return d;
}

DataLoader training_loader(const Dataset& train, const CommonOptions& common) {
  LoaderOptions options;
  options.batch_size = common.batch_size;
  options.seed = common.seed;
  options.drop_last = true;
  return DataLoader(train, options);
}

void start_epoch_at(DataLoader& loader, int64_t epoch, int64_t skip_batches) {
  loader.start_epoch(epoch);
  for (int64_t i = 0; i < skip_batches; ++i)
    NG_CHECK(loader.next().has_value(), "resume: the epoch has fewer than ", skip_batches, " batches");
}

nlohmann::json resumed_config(const RunFolder& run, CommonOptions& common, const std::string& model) {
  if (!common.resume || !std::filesystem::exists(run.file("config.json"))) return nullptr;
  const nlohmann::json saved = run.read_config();
  NG_CHECK(saved.value("model", "") == model, "run ", run.path(), " is a '", saved.value("model", "?"),
           "' run, not a '", model, "' run");
  const int64_t epochs = common.epochs, max_steps = common.max_steps;
  const double time_limit = common.time_limit;
  from_json(saved.at("common"), common);
  common.epochs = epochs;
  common.max_steps = max_steps;
  common.time_limit = time_limit;
  common.resume = true;
  return saved;
}

StopRule::StopRule(const CommonOptions& o)
    : max_steps_(o.max_steps), time_limit_(o.time_limit), start_(std::chrono::steady_clock::now()) {
  NG_CHECK(o.time_limit >= 0, "--time-limit must be >= 0 seconds, got ", o.time_limit);
}

bool StopRule::reached(int64_t global_step) const {
  if (max_steps_ > 0 && global_step >= max_steps_) return true;
  if (time_limit_ <= 0) return false;
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count() >= time_limit_;
}

std::string StopRule::reason(int64_t global_step) const {
  if (max_steps_ > 0 && global_step >= max_steps_) return "reached --max-steps";
  return "reached --time-limit (" + fmt("%g", time_limit_) + " s)";
}

void record_early_stop(RunFolder& run, const StopRule& stop, int64_t epoch, int64_t global_step, double seconds) {
  run.metrics({{"epoch", double(epoch)}, {"step", double(global_step)}, {"time_s", seconds}}, "stop");
  run.log(std::string(interrupt_requested() ? "interrupted" : stop.reason(global_step)) + " at step " +
          std::to_string(global_step) + "; checkpoint saved, continue with --resume");
  clear_interrupt();
}

Metadata checkpoint_metadata(const std::string& model, const TrainingPosition& p, bool epoch_end,
                             const Generator& noise, const nlohmann::json& config) {
  return {{"model", model},
          {"epoch", std::to_string(epoch_end ? p.epoch + 1 : p.epoch)},
          {"step_in_epoch", std::to_string(epoch_end ? 0 : p.step_in_epoch)},
          {"global_step", std::to_string(p.global_step)},
          {"noise_seed", std::to_string(noise.seed())},
          {"noise_offset", std::to_string(noise.offset())},
          {"config", config.dump()}};
}

TrainingPosition restore_position(const Metadata& m, Generator& noise) {
  auto field = [&](const char* key) -> const std::string& {
    auto it = m.find(key);
    NG_CHECK(it != m.end(), "resume: the checkpoint's metadata has no '", key, "'");
    return it->second;
  };
  TrainingPosition p;
  p.epoch = std::stoll(field("epoch"));
  p.step_in_epoch = std::stoll(field("step_in_epoch"));
  p.global_step = std::stoll(field("global_step"));
  noise.set_state(std::stoull(field("noise_seed")), std::stoull(field("noise_offset")));
  return p;
}

SavedRun open_saved_run(const std::string& path, const std::string& model) {
  std::ifstream in(path + "/config.json");
  NG_CHECK(in.good(), "'", path, "' is not a run folder (it has no config.json)");
  SavedRun r;
  try {
    r.config = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    throw Error("run folder " + path + ": config.json is not valid JSON: " + e.what());
  }
  NG_CHECK(r.config.value("model", "") == model, "run ", path, " is a '", r.config.value("model", "?"),
           "' run, not a '", model, "' run");
  const std::string ckpt = path + "/checkpoints/last.safetensors";
  NG_CHECK(std::filesystem::exists(ckpt), "run ", path, " has no checkpoint yet (", ckpt, ")");
  r.checkpoint = load_safetensors(ckpt);
  return r;
}

double peak_memory_mb(Device device) {
  constexpr double mib = 1024.0 * 1024.0;
  if (device.is_cuda()) {
#ifdef NANOGEN_WITH_CUDA
    return double(cuda::allocator_stats(device.index).peak_in_use) / mib;
#else
    throw Error("peak_memory_mb: " + device.str() + " in a build without the CUDA backend");
#endif
  }
  rusage usage{};
  NG_CHECK(getrusage(RUSAGE_SELF, &usage) == 0, "peak_memory_mb: getrusage failed");
  return double(usage.ru_maxrss) * 1024.0 / mib;  // ru_maxrss is in KiB on Linux
}

void reset_peak_memory(Device device) {
#ifdef NANOGEN_WITH_CUDA
  if (device.is_cuda()) cuda::reset_peak(device.index);
#else
  (void)device;
#endif
}

std::string fmt(const char* format, double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, value);
  return buf;
}

void check_finite(double value, const std::string& what, int64_t step) {
  NG_CHECK(std::isfinite(value), what, " became ", value, " at step ", step,
           "; training diverged (try a lower --lr); the last good checkpoint is kept");
}

}  // namespace ng::tools
