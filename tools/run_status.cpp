#include "tools/run_status.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/error.h"
#include "tools/report_run.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace ng::tools {

namespace {

// A JSON file of the run, or the short reason it cannot be used. Parsed
// without exceptions: a damaged file is an expected case here, not an error.
std::optional<json> read_json_file(const std::string& path, const std::string& name, std::string& problem) {
  std::ifstream in(path);
  if (!in.good()) {
    problem = "cannot read " + name;
    return std::nullopt;
  }
  json j = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    problem = name + " is not valid JSON";
    return std::nullopt;
  }
  if (!j.is_object()) {
    problem = name + " is not a JSON object";
    return std::nullopt;
  }
  return j;
}

}  // namespace

std::optional<int64_t> whole_number(double v) {
  constexpr double kExact = 9007199254740992.0;  // 2^53
  if (!std::isfinite(v) || std::fabs(v) > kExact || v != std::floor(v)) return std::nullopt;
  return int64_t(v);
}

namespace {

std::optional<int64_t> json_integer(const json& j, const std::vector<std::string>& keys) {
  const std::optional<double> v = json_number(j, keys);
  return v ? whole_number(*v) : std::nullopt;
}

// Seconds since the file was last written, or nullopt when it is missing.
std::optional<double> age_seconds(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return std::max(0.0, std::difftime(std::time(nullptr), st.st_mtime));
}

std::string utc_time(std::time_t t) {
  char buf[32];
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%FT%TZ", &tm);
  return buf;
}

// The state and its note, from what read_run_status found (see the header).
void decide_state(RunStatus& r, std::optional<int64_t> max_steps, bool has_checkpoint) {
  const bool last_row_is_stop = r.metrics && !r.metrics->rows.empty() && r.metrics->rows.back().kind == "stop";
  if (r.lock_holder) {
    r.state = "running";
    r.state_note = "process " + std::to_string(*r.lock_holder);
  } else if (!r.problems.empty()) {
    r.state = "damaged";
    r.state_note = r.problems.front();
  } else if (!has_checkpoint) {
    r.state = "new";
    r.state_note = "no checkpoint yet";
  } else if (max_steps.value_or(0) > 0 && r.last_step.value_or(0) >= *max_steps) {
    r.state = "finished";  // whether mid-epoch or not: resuming as it is trains nothing
    r.state_note = "reached --max-steps";
  } else if (last_row_is_stop) {
    r.state = "stopped";
    r.state_note = "mid-epoch, with a checkpoint; continue with --resume";
  } else if (r.epochs_done.value_or(0) >= *r.epochs_asked) {
    r.state = "finished";
  } else {
    r.state = "interrupted";
    r.state_note = "ended before its last epoch; continue with --resume";
  }
}

}  // namespace

const MetricsRow* RunStatus::last_epoch() const {
  if (!metrics) return nullptr;
  for (auto it = metrics->rows.rbegin(); it != metrics->rows.rend(); ++it)
    if (it->kind == "epoch") return &*it;
  return nullptr;
}

std::vector<MainMetric> main_metrics(const std::string& model) {
  if (model == "vae") return {{"test_loss", "test -ELBO"}};
  if (model == "gan") return {{"d_loss", "D loss"}, {"g_loss", "G loss"}};
  if (model == "ddpm") return {{"loss", "L_simple"}, {"bpd", "bits/dim"}};
  if (model == "classifier") return {{"test_accuracy", "test accuracy"}};
  return {};
}

std::optional<int64_t> flock_holder(const std::string& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) return std::nullopt;
  std::ifstream locks("/proc/locks");
  // "1: FLOCK  ADVISORY  WRITE 17287 fe:00:10953765 0 EOF"; a waiter's line
  // has "->" after the number and holds nothing.
  for (std::string line; std::getline(locks, line);) {
    std::istringstream fields(line);
    std::string number, type, mode, access, device_inode;
    int64_t pid = 0;
    if (!(fields >> number >> type >> mode >> access >> pid >> device_inode) || type != "FLOCK") continue;
    unsigned major_id = 0, minor_id = 0;
    unsigned long long inode = 0;
    if (std::sscanf(device_inode.c_str(), "%x:%x:%llu", &major_id, &minor_id, &inode) != 3) continue;
    if (major_id == major(st.st_dev) && minor_id == minor(st.st_dev) && inode == st.st_ino) return pid;
  }
  return std::nullopt;
}

RunStatus read_run_status(const std::string& path) {
  RunStatus r;
  r.path = path;
  while (r.path.size() > 1 && r.path.back() == '/') r.path.pop_back();
  r.name = fs::path(r.path).filename().string();
  if (fs::exists(r.path + "/.lock")) r.lock_holder = flock_holder(r.path + "/.lock");

  std::string problem;
  std::optional<int64_t> max_steps;
  if (!fs::exists(r.path + "/config.json")) {
    // A training that is still loading its data has locked the folder but
    // not yet written its config.json.
    if (!r.lock_holder) r.problems.push_back("no config.json");
  } else if (auto config = read_json_file(r.path + "/config.json", "config.json", problem)) {
    r.config = std::move(*config);
    r.model = json_string(r.config, {"model"});
    r.data = json_string(r.config, {"common", "data"});
    r.epochs_asked = json_integer(r.config, {"common", "epochs"});
    max_steps = json_integer(r.config, {"common", "max_steps"});
    if (r.model.empty()) r.problems.push_back("config.json names no model");
    if (!r.epochs_asked) r.problems.push_back("config.json has no common.epochs");
  } else {
    r.problems.push_back(problem);
  }

  if (fs::exists(r.path + "/metrics.csv")) {
    try {
      r.metrics = read_metrics_csv(r.path + "/metrics.csv");
    } catch (const std::exception& e) {
      r.problems.push_back(e.what());
    }
  }
  if (r.metrics) {
    r.epochs_done = 0;
    if (const MetricsRow* row = r.last_epoch())
      if (auto epoch = row->number("epoch")) r.epochs_done = whole_number(*epoch);
    for (const MetricsRow& row : r.metrics->rows)
      if (auto step = row.number("step"); step && whole_number(*step))
        r.last_step = std::max(r.last_step.value_or(0), *whole_number(*step));
  }

  if (fs::exists(r.path + "/eval.json")) {
    if (auto eval = read_json_file(r.path + "/eval.json", "eval.json", problem))
      r.eval = std::move(*eval);
    else
      r.problems.push_back(problem);
  }

  r.checkpoint_age_s = age_seconds(r.path + "/checkpoints/last.safetensors");
  decide_state(r, max_steps, r.checkpoint_age_s.has_value());
  return r;
}

std::vector<RunStatus> list_runs(const std::string& dir) {
  NG_CHECK(fs::is_directory(dir), "runs: '", dir, "' is not a folder");
  std::vector<std::string> folders;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const fs::path p = entry.path();
    if (entry.is_directory(ec) && (fs::exists(p / "config.json", ec) || fs::exists(p / ".lock", ec)))
      folders.push_back(p.string());
  }
  NG_CHECK(!ec, "runs: cannot read the folder '", dir, "': ", ec.message());
  std::sort(folders.begin(), folders.end());
  std::vector<RunStatus> runs;
  for (const std::string& f : folders) runs.push_back(read_run_status(f));
  return runs;
}

json run_status_json(const RunStatus& r) {
  auto number = [](const auto& v) { return v ? json(*v) : json(nullptr); };
  auto text = [](const std::string& s) { return s.empty() ? json(nullptr) : json(s); };
  json metrics = json::object();
  const MetricsRow* row = r.last_epoch();
  for (const MainMetric& m : main_metrics(r.model)) metrics[m.column] = row ? number(row->number(m.column)) : nullptr;
  return {{"run", r.path},
          {"name", r.name},
          {"model", text(r.model)},
          {"data", text(r.data)},
          {"epochs_done", number(r.epochs_done)},
          {"epochs_asked", number(r.epochs_asked)},
          {"last_step", number(r.last_step)},
          {"metrics", metrics},
          {"fid", number(json_number(r.eval, {"metrics", "fid"}))},
          {"state", r.state},
          {"state_note", text(r.state_note)},
          {"checkpoint_age_s", number(r.checkpoint_age_s)},
          {"problems", r.problems}};
}

json run_details_json(const RunStatus& r) {
  json j = run_status_json(r);
  j["config"] = r.config;
  j["last_epoch"] = nullptr;
  if (const MetricsRow* row = r.last_epoch()) j["last_epoch"] = row->values;
  j["eval"] = nullptr;
  if (r.eval.is_object()) {
    json e = json::object();
    for (const char* key : {"n", "date", "device"}) e[key] = r.eval.contains(key) ? r.eval[key] : json(nullptr);
    for (const char* key : {"fid", "kid_mean", "kid_std", "precision", "recall", "classifier_score", "bits_per_dim"}) {
      const std::optional<double> v = json_number(r.eval, {"metrics", key});
      e[key] = v ? json(*v) : json(nullptr);
    }
    j["eval"] = e;
  }
  // Top-level files and checkpoints one by one; other folders (samples/,
  // eval/) as a count, since they hold a picture per epoch.
  json files = json::array();
  std::vector<fs::path> entries;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(r.path, ec)) entries.push_back(e.path());
  std::sort(entries.begin(), entries.end());
  auto describe = [&](const fs::path& p, const std::string& name) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) return;
    files.push_back({{"path", name}, {"bytes", int64_t(st.st_size)}, {"modified", utc_time(st.st_mtime)}});
  };
  for (const fs::path& p : entries) {
    const std::string name = p.filename().string();
    if (name.starts_with(".")) continue;  // the lock
    if (!fs::is_directory(p, ec)) {
      describe(p, name);
    } else if (name == "checkpoints") {
      std::vector<fs::path> inside;
      for (const auto& e : fs::directory_iterator(p, ec)) inside.push_back(e.path());
      std::sort(inside.begin(), inside.end());
      for (const fs::path& c : inside) describe(c, name + "/" + c.filename().string());
    } else {
      int64_t count = 0, bytes = 0;
      for (const auto& e : fs::recursive_directory_iterator(p, ec))
        if (e.is_regular_file(ec)) ++count, bytes += int64_t(e.file_size(ec));
      files.push_back({{"path", name + "/"}, {"files", count}, {"bytes", bytes}});
    }
  }
  j["files"] = files;
  return j;
}

}  // namespace ng::tools
