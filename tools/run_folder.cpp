#include "tools/run_folder.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iomanip>
#include <sstream>

#include "engine/error.h"
#include "engine/io/atomic_file.h"

namespace fs = std::filesystem;

namespace ng::tools {

RunFolder::RunFolder(const std::string& path, bool resume) : path_(path) {
  NG_CHECK(resume || !fs::exists(last_checkpoint_path()), "run folder ", path_,
           " already holds a training run; pass --resume to continue it or --out to start another");
  fs::create_directories(path_ + "/samples");
  fs::create_directories(path_ + "/checkpoints");
  log_.open(file("log.txt"), std::ios::app);
  std::ifstream existing(file("metrics.csv"));
  std::string header;
  if (resume && std::getline(existing, header)) {
    std::stringstream ss(header);
    for (std::string col; std::getline(ss, col, ',');) columns_.push_back(col);
  } else if (!resume) {
    fs::remove(file("metrics.csv"));
  }
}

std::string RunFolder::sample_path(const std::string& stem, int64_t epoch) const {
  char buf[32];
  std::snprintf(buf, sizeof buf, "_%03lld.png", (long long)epoch);
  return path_ + "/samples/" + stem + buf;
}

void RunFolder::write_config(const nlohmann::json& config) const {
  const std::string text = config.dump(2) + "\n";
  write_file_atomically(file("config.json"), text.data(), text.size());
}

nlohmann::json RunFolder::read_config() const {
  std::ifstream in(file("config.json"));
  NG_CHECK(in.good(), "run folder ", path_, " has no config.json");
  try {
    return nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    throw Error("run folder " + path_ + ": config.json is not valid JSON: " + e.what());
  }
}

void RunFolder::log(const std::string& line) {
  std::fprintf(stderr, "%s\n", line.c_str());
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  log_ << std::put_time(std::localtime(&now), "%F %T ") << line << '\n';
  log_.flush();
}

void RunFolder::declare_metrics(const std::vector<std::string>& columns) {
  std::vector<std::string> want{"kind"};
  want.insert(want.end(), columns.begin(), columns.end());
  auto joined = [](const std::vector<std::string>& cols) {
    std::string line;
    for (size_t i = 0; i < cols.size(); ++i) line += (i ? "," : "") + cols[i];
    return line;
  };
  if (!columns_.empty()) {
    const bool prefix = columns_.size() <= want.size() && std::equal(columns_.begin(), columns_.end(), want.begin());
    NG_CHECK(prefix, "run folder ", path_, ": metrics.csv has the columns ", joined(columns_),
             ", which this trainer's columns ", joined(want), " do not extend");
    if (columns_.size() < want.size()) extend_metrics_header(want);
    return;
  }
  columns_ = want;
  std::ofstream out(file("metrics.csv"), std::ios::app);
  out << joined(columns_) << '\n';
}

// A run made by an earlier version, which wrote fewer columns: the file is
// rewritten (atomically) with the new header and its rows padded with blank
// fields, so that every row keeps as many fields as the header.
void RunFolder::extend_metrics_header(const std::vector<std::string>& want) {
  std::ifstream in(file("metrics.csv"));
  std::string line, text;
  std::getline(in, line);  // the old header
  for (size_t i = 0; i < want.size(); ++i) text += (i ? "," : "") + want[i];
  text += '\n';
  const std::string padding(want.size() - columns_.size(), ',');
  while (std::getline(in, line))
    if (!line.empty()) text += line + padding + '\n';
  in.close();
  write_file_atomically(file("metrics.csv"), text.data(), text.size());
  columns_ = want;
}

void RunFolder::metrics(const std::map<std::string, double>& row, const std::string& kind) {
  NG_CHECK(!columns_.empty(), "metrics: declare_metrics was not called");
  std::ofstream out(file("metrics.csv"), std::ios::app);
  for (const auto& [k, v] : row)
    NG_CHECK(std::find(columns_.begin(), columns_.end(), k) != columns_.end(), "metrics: column '", k,
             "' is not in ", file("metrics.csv"), "'s header");
  out << kind;
  for (size_t i = 1; i < columns_.size(); ++i) {
    out << ',';
    auto it = row.find(columns_[i]);
    if (it != row.end()) out << std::setprecision(7) << it->second;
  }
  out << '\n';
}

void RunFolder::save_checkpoint(const NamedTensors& tensors, const Metadata& metadata, int64_t epoch,
                                bool epoch_end) const {
  save_safetensors(last_checkpoint_path(), tensors, metadata);
  if (epoch_end) {
    char name[64];
    std::snprintf(name, sizeof name, "/checkpoints/epoch_%03lld.safetensors", (long long)epoch);
    save_safetensors(path_ + name, tensors, metadata);
  }
}

std::optional<SafetensorsContent> RunFolder::load_last_checkpoint() const {
  if (!fs::exists(last_checkpoint_path())) return std::nullopt;
  return load_safetensors(last_checkpoint_path());
}

NamedTensors with_prefix_removed(const NamedTensors& all, const std::string& prefix) {
  NamedTensors out;
  for (const auto& [n, t] : all)
    if (n.rfind(prefix, 0) == 0) out.emplace_back(n.substr(prefix.size()), t);
  return out;
}

NamedTensors without_prefixes(const NamedTensors& all, const std::vector<std::string>& prefixes) {
  NamedTensors out;
  for (const auto& [n, t] : all) {
    bool skip = false;
    for (const std::string& p : prefixes) skip = skip || n.rfind(p, 0) == 0;
    if (!skip) out.emplace_back(n, t);
  }
  return out;
}

NamedTensors with_prefix(const NamedTensors& tensors, const std::string& prefix) {
  NamedTensors out;
  for (const auto& [n, t] : tensors) out.emplace_back(prefix + n, t);
  return out;
}

}  // namespace ng::tools
