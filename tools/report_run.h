// What the comparison report reads from one evaluated run folder: its
// config.json, eval.json, metrics.csv and the names of its pictures. Missing
// optional pieces become notes for the page; a missing eval.json is an error.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tools/metrics_csv.h"

namespace ng::tools {

struct EpochImage {
  int64_t epoch;
  std::string path;
};

// RUN/samples/<stem>_NNN.png, by epoch (none when there is no samples/).
std::vector<EpochImage> epoch_images(const std::string& run, const std::string& stem);

// A few of many: the first, evenly spaced ones and the last.
template <class T>
std::vector<T> evenly_spaced(const std::vector<T>& all, size_t count) {
  if (all.size() <= count) return all;
  if (count <= 1) return count == 1 ? std::vector<T>{all.back()} : std::vector<T>{};
  std::vector<T> out;
  size_t previous = all.size();
  for (size_t k = 0; k < count; ++k) {
    const size_t i = (k * (all.size() - 1) + (count - 1) / 2) / (count - 1);
    if (i != previous) out.push_back(all[i]);
    previous = i;
  }
  return out;
}

struct ReportRun {
  std::string path;               // the folder as given
  std::string name;               // what the page calls it
  std::string model;              // vae | gan | ddpm (eval.json's, else config.json's)
  nlohmann::json config;          // config.json, or an empty object
  nlohmann::json eval;            // eval.json
  std::optional<MetricsTable> metrics;
  std::vector<std::string> notes;  // what was missing or unreadable

  std::string file(const std::string& relative) const { return path + "/" + relative; }
  // samples/<stem>_NNN.png, by epoch.
  std::vector<EpochImage> epoch_images(const std::string& stem) const { return tools::epoch_images(path, stem); }
};

// Throws ng::Error naming the run when it is not a folder, has no eval.json
// ("run `nanogen eval RUN` first") or its JSON is malformed.
ReportRun load_report_run(const std::string& path);

// Names runs by their folder's name, or by their whole path where two
// folders share a name.
void name_runs(std::vector<ReportRun>& runs);

// The number at a path of keys, or nullopt when a key is missing or the value
// is null or not a number.
std::optional<double> json_number(const nlohmann::json& j, const std::vector<std::string>& keys);
// The string at a path of keys, or "" when missing or not a string.
std::string json_string(const nlohmann::json& j, const std::vector<std::string>& keys);

}  // namespace ng::tools
