#include "tools/train_common.h"

#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "engine/data/datasets.h"
#include "engine/error.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/reduce.h"
#include "engine/precision.h"
#include "tools/run_config.h"
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

void check_common_options(const CommonOptions& o) {
  NG_CHECK(o.epochs >= 1, "--epochs must be at least 1, got ", o.epochs);
  NG_CHECK(o.batch_size >= 1, "--batch-size must be at least 1, got ", o.batch_size);
  NG_CHECK(std::isfinite(o.lr) && o.lr > 0, "--lr must be a positive number, got ", o.lr);
  NG_CHECK(o.log_every >= 1, "--log-every must be at least 1 (a metrics row every that many steps), got ",
           o.log_every);
  NG_CHECK(o.max_steps >= 0, "--max-steps must be >= 0 (0: no limit), got ", o.max_steps);
  NG_CHECK(std::isfinite(o.time_limit) && o.time_limit >= 0, "--time-limit must be >= 0 seconds (0: no limit), got ",
           o.time_limit);
  NG_CHECK(o.limit >= 0, "--limit must be >= 0 (0: every training image), got ", o.limit);
  NG_CHECK(o.test_limit >= 0, "--test-limit must be >= 0 (0: every test image), got ", o.test_limit);
  NG_CHECK(o.threads >= 0, "--threads must be >= 0 (0: every core), got ", o.threads);
  NG_CHECK(std::isfinite(o.bucket_mb) && o.bucket_mb >= 0,
           "--bucket-mb must be >= 0 MiB (0: one all-reduce after backward), got ", o.bucket_mb);
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

ImageShape run_image_shape(const nlohmann::json& config, const std::string& path) {
  const auto it = config.find("image");
  const bool ok = it != config.end() && it->is_array() && it->size() == 3 &&
                  std::all_of(it->begin(), it->end(), [](const nlohmann::json& v) {
                    return v.is_number_integer() && v.get<int64_t>() >= 1 && v.get<int64_t>() <= (int64_t(1) << 16);
                  });
  NG_CHECK(ok, "run ", path, ": config.json's \"image\" is ", it == config.end() ? "missing" : it->dump(),
           "; expected [channels, height, width], three whole numbers from 1 to 65536");
  return {(*it)[0].get<int64_t>(), (*it)[1].get<int64_t>(), (*it)[2].get<int64_t>()};
}

RunClasses run_classes(const nlohmann::json& config, const std::string& path) {
  RunClasses classes;
  const auto it = config.find("classes");
  if (it == config.end()) return classes;
  const auto count = it->find("count");
  NG_CHECK(it->is_object() && count != it->end() && count->is_number_integer() && count->get<int64_t>() >= 0 &&
               count->get<int64_t>() <= 100000,
           "run ", path, ": config.json's \"classes\" is ", it->dump(),
           "; expected {\"count\": a whole number from 0 to 100000, \"names\": [...]}");
  classes.count = count->get<int64_t>();
  if (const auto names = it->find("names"); names != it->end()) {
    NG_CHECK(names->is_array() && (names->empty() || int64_t(names->size()) == classes.count) &&
                 std::all_of(names->begin(), names->end(), [](const nlohmann::json& n) { return n.is_string(); }),
             "run ", path, ": config.json's class names ", names->dump(), " must be ", classes.count, " strings");
    classes.names = names->get<std::vector<std::string>>();
  }
  return classes;
}

nlohmann::json classes_json(const Dataset& dataset) {
  return {{"count", dataset.num_classes}, {"names", dataset.class_names}};
}

void check_finite_tensors(const NamedTensors& tensors, const std::string& where) {
  for (const auto& [name, t] : tensors) {
    // x * 0 is 0 for a finite x and NaN for a NaN or infinite one, so the
    // sum is finite exactly when every element is.
    const double total = sum(t.detach() * 0.0).item();
    NG_CHECK(std::isfinite(total), where, ": '", name, "' holds NaN or infinite values (was it written after the ",
             "run diverged?)");
  }
}

SavedRun open_saved_run(const std::string& path, const std::string& model) {
  SavedRun r;
  r.config = read_run_config(path, "run " + path);
  check_run_model(r.config, path, model);
  run_image_shape(r.config, path);
  const std::string ckpt = path + "/checkpoints/last.safetensors";
  NG_CHECK(std::filesystem::exists(ckpt), "run ", path, " has no checkpoint yet (", ckpt, ")");
  r.checkpoint = load_safetensors(ckpt);
  check_finite_tensors(r.checkpoint.tensors, ckpt);
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

double available_memory_bytes() {
  std::ifstream in("/proc/meminfo");
  double available = 0, kib = 0;
  for (std::string line; std::getline(in, line);)
    if (std::sscanf(line.c_str(), "MemAvailable: %lf kB", &kib) == 1) available = kib * 1024.0;
  // In a container the cgroup's limit (cgroup v2) may be lower than the machine's.
  std::ifstream limit_file("/sys/fs/cgroup/memory.max"), used_file("/sys/fs/cgroup/memory.current");
  double limit = 0, used = 0;
  if (limit_file >> limit && used_file >> used && limit > used)  // "max" (no limit) does not read as a number
    available = available > 0 ? std::min(available, limit - used) : limit - used;
  return available;
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
  NG_CHECK(std::isfinite(value), what, " became ", value, " at step ", step, kDivergedAdvice);
}

}  // namespace ng::tools
