#include "tools/train_common.h"

#include <sys/resource.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "engine/data/datasets.h"
#include "engine/error.h"
#include "engine/precision.h"
#ifdef NANOGEN_WITH_CUDA
#include "engine/cuda/allocator.h"
#endif

namespace ng::tools {

Device resolve_device(const std::string& name) {
  if (name == "auto") return cuda_available() ? Device::cuda(0) : Device::cpu();
  const Device d = Device::parse(name);
  NG_CHECK(d.is_cpu() || cuda_available(), "--device ", name,
           ": no GPU is visible (or this build has no CUDA backend); use --device cpu");
  return d;
}

Device resolve_device(const std::string& name, const std::string& precision) {
  const Device d = resolve_device(name);
  set_matmul_precision(resolve_precision(precision, d));
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

void check_run_model(const nlohmann::json& config, const std::string& path, const std::string& model) {
  NG_CHECK(config.value("model", "") == model, "run ", path, " is a '", config.value("model", "?"), "' run, not a '",
           model, "' run");
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
  check_run_model(r.config, path, model);
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
