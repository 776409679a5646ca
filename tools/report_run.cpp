#include "tools/report_run.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>

#include "engine/error.h"

namespace fs = std::filesystem;

namespace ng::tools {

namespace {

nlohmann::json read_json(const std::string& path, const std::string& run) {
  std::ifstream in(path);
  NG_CHECK(in.good(), "compare: cannot read ", path);
  try {
    return nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    throw Error("compare: run " + run + ": " + path + " is not valid JSON: " + e.what());
  }
}

const nlohmann::json* json_at(const nlohmann::json& j, const std::vector<std::string>& keys) {
  const nlohmann::json* node = &j;
  for (const std::string& k : keys) {
    if (!node->is_object() || !node->contains(k)) return nullptr;
    node = &(*node)[k];
  }
  return node;
}

}  // namespace

std::optional<double> json_number(const nlohmann::json& j, const std::vector<std::string>& keys) {
  const nlohmann::json* node = json_at(j, keys);
  if (!node || !node->is_number()) return std::nullopt;
  return node->get<double>();
}

std::string json_string(const nlohmann::json& j, const std::vector<std::string>& keys) {
  const nlohmann::json* node = json_at(j, keys);
  return node && node->is_string() ? node->get<std::string>() : "";
}

ReportRun load_report_run(const std::string& path) {
  ReportRun run;
  run.path = path;
  while (run.path.size() > 1 && run.path.back() == '/') run.path.pop_back();
  NG_CHECK(fs::is_directory(run.path), "compare: run ", path, " is not a folder");
  NG_CHECK(fs::exists(run.file("eval.json")), "compare: run ", path, " has no eval.json: run `nanogen eval ", path,
           "` first");
  run.eval = read_json(run.file("eval.json"), path);
  NG_CHECK(run.eval.is_object(), "compare: run ", path, ": eval.json is not a JSON object");

  if (fs::exists(run.file("config.json")))
    run.config = read_json(run.file("config.json"), path);
  else
    run.notes.push_back("no config.json");
  if (!run.config.is_object()) run.config = nlohmann::json::object();

  run.model = json_string(run.eval, {"model"});
  if (run.model.empty()) run.model = json_string(run.config, {"model"});

  if (fs::exists(run.file("metrics.csv"))) {
    try {
      run.metrics = read_metrics_csv(run.file("metrics.csv"));
    } catch (const Error& e) {
      run.notes.push_back(e.what());
    }
  } else {
    run.notes.push_back("no metrics.csv");
  }
  run.name = fs::path(run.path).filename().string();
  if (run.name.empty() || run.name == ".") run.name = run.path;
  return run;
}

void name_runs(std::vector<ReportRun>& runs) {
  std::map<std::string, int> uses;
  for (const ReportRun& r : runs) ++uses[r.name];
  for (ReportRun& r : runs)
    if (uses[r.name] > 1) r.name = r.path;
}

std::vector<EpochImage> epoch_images(const std::string& run, const std::string& stem) {
  std::vector<EpochImage> out;
  const fs::path dir = fs::path(run) / "samples";
  if (!fs::is_directory(dir)) return out;
  const std::regex pattern(stem + "_([0-9]+)\\.png");
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::smatch m;
    const std::string filename = entry.path().filename().string();
    if (entry.is_regular_file() && std::regex_match(filename, m, pattern))
      out.push_back({std::stoll(m[1].str()), entry.path().string()});
  }
  std::sort(out.begin(), out.end(), [](const EpochImage& a, const EpochImage& b) { return a.epoch < b.epoch; });
  return out;
}

}  // namespace ng::tools
