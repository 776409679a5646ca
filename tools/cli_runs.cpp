// `nanogen runs [DIR]` and `nanogen show RUN`: what the run folders hold,
// read from their files (tools/run_status.h) and printed as a table, as
// sections, or as JSON. The text is rendered from the JSON, so both say the same.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <sstream>

#include "engine/error.h"
#include "tools/cli.h"
#include "tools/cli_summary.h"
#include "tools/report_format.h"
#include "tools/report_run.h"
#include "tools/run_status.h"

namespace ng::tools {

using nlohmann::json;

namespace {

std::string text_of(const json& j, const std::string& key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string count_of(const json& j, const std::string& key) {
  const std::optional<double> v = json_number(j, {key});
  const std::optional<int64_t> n = v ? whole_number(*v) : std::nullopt;
  return n ? std::to_string(*n) : "?";
}

// "40s ago", "12m ago", "5h ago", "3d ago": how stale a checkpoint is, at a glance.
std::string format_age(std::optional<double> seconds) {
  if (!seconds) return kMissing;
  const double s = *seconds;
  char buf[32];
  if (s < 60)
    std::snprintf(buf, sizeof buf, "%.0fs ago", s);
  else if (s < 3600)
    std::snprintf(buf, sizeof buf, "%.0fm ago", std::floor(s / 60));
  else if (s < 86400)
    std::snprintf(buf, sizeof buf, "%.0fh ago", std::floor(s / 3600));
  else
    std::snprintf(buf, sizeof buf, "%.0fd ago", std::floor(s / 86400));
  return buf;
}

std::string format_bytes(double bytes) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  int u = 0;
  while (bytes >= 1000 && u < 4) bytes /= 1000, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
  return buf;
}

// Four significant digits without trailing zeros: 0.75, 251.3, 12.35.
std::string short_number(std::optional<double> v, int digits = 4) {
  std::string text = format_significant(v, digits);
  if (text.find('.') == std::string::npos || text.find('e') != std::string::npos) return text;
  while (text.back() == '0') text.pop_back();
  if (text.back() == '.') text.pop_back();
  return text;
}

// "test -ELBO 251.3" or "D loss 0.61, G loss 1.23": the main metrics of the
// run's model, labelled.
std::string metrics_text(const json& run) {
  std::string out;
  for (const MainMetric& m : main_metrics(text_of(run, "model"))) {
    const std::optional<double> v = json_number(run, {"metrics", m.column});
    if (!v) continue;
    out += (out.empty() ? "" : ", ") + m.label + " " + short_number(v);
  }
  return out.empty() ? kMissing : out;
}

std::string state_text(const json& run) {
  const std::string note = text_of(run, "state_note");
  return text_of(run, "state") + (note.empty() ? "" : " (" + note + ")");
}

// Rows of cells as columns two spaces apart, the last one left unpadded.
std::string columns(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size(); ++i) {
      width.resize(std::max(width.size(), row.size()));
      // Count code points, not bytes: the "–" of a missing number is three bytes.
      size_t n = 0;
      for (unsigned char c : row[i]) n += (c & 0xC0) != 0x80;
      width[i] = std::max(width[i], n);
    }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 == row.size()) break;
      size_t n = 0;
      for (unsigned char c : row[i]) n += (c & 0xC0) != 0x80;
      line += std::string(width[i] - n + 2, ' ');
    }
    out += line + "\n";
  }
  return out;
}

// A cell for a number: whole numbers (epoch, step) without decimals.
std::string number_cell(double v) {
  if (std::isfinite(v) && v == std::round(v) && std::fabs(v) < 1e15) return std::to_string(int64_t(v));
  return short_number(v, 5);
}

// A value of config.json or eval.json in one cell: strings bare, the rest compact JSON.
std::string value_cell(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number()) return number_cell(v.get<double>());
  return v.dump(-1, ' ', false, json::error_handler_t::replace);
}

// "common.lr 0.001" lines of an object, nested keys joined with dots.
void flatten(const json& j, const std::string& prefix, std::vector<std::vector<std::string>>& rows) {
  for (const auto& [key, value] : j.items()) {
    const std::string name = prefix.empty() ? key : prefix + "." + key;
    if (value.is_object() && !value.empty())
      flatten(value, name, rows);
    else
      rows.push_back({"  " + name, value_cell(value)});
  }
}

}  // namespace

std::string runs_table(const json& runs) {
  std::vector<std::vector<std::string>> rows{
      {"RUN", "MODEL", "DATA", "EPOCHS", "STEP", "CHECKPOINT", "FID", "LAST EPOCH", "STATE"}};
  for (const json& r : runs) {
    const std::string model = text_of(r, "model"), data = text_of(r, "data");
    rows.push_back({text_of(r, "name"), model.empty() ? "?" : model, data.empty() ? "?" : data,
                    count_of(r, "epochs_done") + "/" + count_of(r, "epochs_asked"), count_of(r, "last_step"),
                    format_age(json_number(r, {"checkpoint_age_s"})), short_number(json_number(r, {"fid"})),
                    metrics_text(r), state_text(r)});
  }
  return columns(rows);
}

std::string run_details_text(const json& d) {
  std::ostringstream s;
  const std::string model = text_of(d, "model"), data = text_of(d, "data");
  std::vector<std::vector<std::string>> head{
      {"run", text_of(d, "run")},
      {"model", (model.empty() ? "?" : model) + " on " + (data.empty() ? "?" : data)},
      {"state", state_text(d)},
      {"epochs", count_of(d, "epochs_done") + " of " + count_of(d, "epochs_asked") + ", last step " +
                     count_of(d, "last_step")},
      {"checkpoint", format_age(json_number(d, {"checkpoint_age_s"}))}};
  s << columns(head);
  for (const json& p : d.value("problems", json::array())) s << "problem: " << p.get<std::string>() << "\n";

  if (d.contains("config") && d["config"].is_object()) {
    std::vector<std::vector<std::string>> rows;
    flatten(d["config"], "", rows);
    s << "\noptions (config.json)\n" << columns(rows);
  }
  if (d.contains("last_epoch") && d["last_epoch"].is_object()) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& [column, value] : d["last_epoch"].items())
      rows.push_back({"  " + column, number_cell(value.get<double>())});
    s << "\nlast epoch (metrics.csv)\n" << columns(rows);
  }
  if (d.contains("eval") && d["eval"].is_object()) {
    const json& e = d["eval"];
    std::vector<std::vector<std::string>> rows;
    for (const auto& [key, value] : e.items())
      if (!value.is_null())
        rows.push_back({"  " + key, value_cell(value)});
    s << "\neval.json\n" << columns(rows);
  }
  if (d.contains("files") && d["files"].is_array()) {
    std::vector<std::vector<std::string>> rows;
    for (const json& f : d["files"]) {
      const std::string bytes = format_bytes(json_number(f, {"bytes"}).value_or(0));
      if (f.contains("files"))
        rows.push_back({"  " + text_of(f, "path"), bytes, count_of(f, "files") + (count_of(f, "files") == "1" ? " file" : " files")});
      else
        rows.push_back({"  " + text_of(f, "path"), bytes, text_of(f, "modified")});
    }
    s << "\nfiles\n" << columns(rows);
  }
  return s.str();
}

void add_runs(CLI::App& app, Commands& commands) {
  auto dir = std::make_shared<std::string>("runs");
  auto runs_json = std::make_shared<bool>(false);
  CLI::App* runs = app.add_subcommand(
      "runs", "list the run folders under DIR: model, data set, epochs, step, last metrics, state, checkpoint age");
  runs->add_option("dir", *dir, "folder holding run folders")->capture_default_str();
  runs->add_flag("--json", *runs_json, "print a JSON array, one object per run");
  commands.emplace_back(runs, [dir, runs_json] {
    json list = json::array();
    for (const RunStatus& r : list_runs(*dir)) list.push_back(run_status_json(r));
    if (list.empty() && !*runs_json) {
      // Nothing to list: say why on stderr, keeping stdout empty for scripts.
      const std::string hint = std::filesystem::exists(*dir + "/config.json")
                                   ? "; it is a run folder itself: see `nanogen show " + *dir + "`"
                                   : "";
      std::fprintf(stderr, "runs: no run folders in %s%s\n", dir->c_str(), hint.c_str());
      return;
    }
    print_summary(list, *runs_json, runs_table);
  });

  auto run = std::make_shared<std::string>();
  auto show_json = std::make_shared<bool>(false);
  CLI::App* show = app.add_subcommand("show", "one run in detail: options, last epoch, eval.json, files, state");
  show->add_option("run", *run, "run folder, e.g. runs/vae")->required();
  show->add_flag("--json", *show_json, "print one JSON object");
  commands.emplace_back(show, [run, show_json] {
    // A path that is no run at all is an error, not a "damaged" run.
    NG_CHECK(std::filesystem::is_directory(*run), "show: '", *run, "' is not a folder");
    NG_CHECK(std::filesystem::exists(*run + "/config.json") || std::filesystem::exists(*run + "/.lock"), "show: '",
             *run, "' is not a run folder (it has no config.json)");
    print_summary(run_details_json(read_run_status(*run)), *show_json, run_details_text);
  });
}

}  // namespace ng::tools
