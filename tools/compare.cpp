#include "tools/compare.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <set>
#include <sstream>

#include "engine/error.h"
#include "engine/io/atomic_file.h"
#include "tools/html.h"
#include "tools/model_registry.h"
#include "tools/report_format.h"
#include "tools/report_metrics.h"
#include "tools/report_run.h"
#include "tools/run_charts.h"
#include "tools/svg_chart.h"

namespace fs = std::filesystem;

namespace ng::tools {

namespace {

using nlohmann::json;

const char* const kStyle = R"css(
body { margin: 0; background: #fff; color: #1f2328;
       font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1240px; margin: 0 auto; padding: 28px 32px 64px; }
h1 { font-size: 28px; margin: 0 0 2px; }
h2 { font-size: 20px; margin: 44px 0 12px; padding-bottom: 6px; border-bottom: 1px solid #e4e6ea; }
h3 { font-size: 16px; margin: 22px 0 8px; }
small { color: #6a737d; }
code { font: 13px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: #f3f4f6;
       padding: 1px 5px; border-radius: 4px; }
a { color: #2f63b0; text-decoration: none; }
.date { color: #6a737d; margin: 0 0 14px; }
nav { margin: 10px 0 0; font-size: 14px; }
nav a { margin-right: 16px; }
ul.runs { list-style: none; padding: 0; margin: 0; }
ul.runs li { margin: 5px 0; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; }
.badge { display: inline-block; font-size: 11px; font-weight: 600; letter-spacing: .05em; text-transform: uppercase;
         padding: 0 7px; border-radius: 9px; background: #e9eef7; color: #34507a; }
.table-wrap { overflow-x: auto; }
table.metrics { border-collapse: collapse; font-variant-numeric: tabular-nums; }
table.metrics th, table.metrics td { border: 1px solid #e2e4e8; padding: 6px 14px; text-align: right;
                                     vertical-align: middle; white-space: nowrap; }
table.metrics thead th { background: #f6f7f9; text-align: center; font-weight: 600; }
table.metrics tbody th { text-align: left; font-weight: 500; background: #fbfbfc; }
table.metrics td.best, .best-sample { background: #e3f4e8; color: #135c2c; font-weight: 600; }
table.metrics .reference { background: #f8f8f8; color: #6a737d; }
table.metrics .missing { color: #b0b4ba; }
table.metrics sup { font-size: 10px; margin-left: 2px; }
svg.bars { vertical-align: -3px; margin-left: 6px; }
.hint { font-size: 13px; color: #6a737d; margin: 8px 0; }
.best-sample { padding: 0 4px; border-radius: 3px; }
ol.footnotes { font-size: 13px; color: #444; padding-left: 22px; }
dl.legend { display: grid; grid-template-columns: max-content 1fr max-content 1fr; gap: 4px 14px; font-size: 12.5px;
            line-height: 1.4; color: #444; margin: 14px 0 0; padding: 12px 16px; background: #fafbfc;
            border: 1px solid #eceef1; border-radius: 6px; }
dl.legend dt { font-weight: 600; }
dl.legend dd { margin: 0; }
.figures { display: flex; flex-wrap: wrap; gap: 28px; align-items: flex-start; }
.strip { display: flex; gap: 14px; overflow-x: auto; padding-bottom: 6px; align-items: flex-start; }
figure { margin: 0; display: table; }  /* a table, so that the caption wraps at the picture's width */
figcaption { display: table-caption; caption-side: bottom; font-size: 13px; color: #57606a; margin-top: 4px; }
figcaption b { color: #1f2328; }
img.pixels { image-rendering: pixelated; display: block; border: 1px solid #d0d4da; background: #000; }
.scroll { max-height: 520px; overflow-y: auto; display: inline-block; }
.charts { display: flex; flex-wrap: wrap; gap: 20px 28px; }
figure.chart { display: block; max-width: 100%; }
svg.chart { display: block; max-width: 100%; height: auto; }
.note { color: #6b5100; background: #fff8e1; border-left: 3px solid #f0c36d; padding: 6px 10px; font-size: 13px;
        margin: 8px 0; }
footer { margin-top: 56px; color: #8b949e; font-size: 12px; }
)css";

std::string note(const std::string& text) { return "<p class=\"note\">" + html_escape(text) + "</p>\n"; }

std::string upper(std::string s) {
  for (char& c : s) c = char(std::toupper((unsigned char)c));
  return s;
}

std::string utc_now(const char* format) {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, format, &tm);
  return buf;
}

// Magnification of a picture so that it shows at about 500-700 pixels wide,
// by a whole factor so that pixels stay square: 2x for 8x8 grids of 28x28.
int pixel_scale(int64_t width, int64_t target = 640) {
  return int(std::clamp<int64_t>(width > 0 ? target / width : 1, 1, 3));
}

// A PNG as an <img> inside a <figure>, or a note when the file is missing.
std::string figure(const std::string& path, const std::string& caption_html, int64_t target_width = 640,
                   bool scroll = false) {
  if (!fs::is_regular_file(path)) return note("missing picture: " + path);
  const std::string bytes = read_file_bytes(path);
  PngSize size;
  try {
    size = png_size(bytes, path);
  } catch (const Error& e) {
    return note(e.what());  // one bad picture should not cost the whole page
  }
  const int scale = pixel_scale(size.width, target_width);
  std::ostringstream os;
  os << "<figure>" << (scroll ? "<div class=\"scroll\">" : "") << "<img class=\"pixels\" src=\""
     << png_data_uri(bytes) << "\" width=\"" << size.width * scale << "\" height=\"" << size.height * scale
     << "\" alt=\"" << html_escape(fs::path(path).filename().string()) << "\">" << (scroll ? "</div>" : "")
     << "<figcaption>" << caption_html << "</figcaption></figure>\n";
  return os.str();
}

// The picture eval.json names under images.<key>, or a note saying what is missing.
std::string eval_figure(const ReportRun& run, const std::string& key, int64_t target_width,
                        const std::string& caption_html, bool scroll = false) {
  const std::string relative = json_string(run.eval, {"images", key});
  if (relative.empty()) return note(run.name + ": eval.json names no " + key + " picture");
  if (!fs::is_regular_file(run.file(relative)))
    return note(run.name + ": " + relative + " is missing (eval.json names it); rerun `nanogen eval " + run.path + "`");
  return figure(run.file(relative), caption_html, target_width, scroll);
}

std::string run_heading(const ReportRun& run, size_t index) {
  return "<h3><span class=\"swatch\" style=\"background:" + series_colour(index) + "\"></span>" +
         html_escape(run.name) + " <span class=\"badge\">" + html_escape(run.model) + "</span></h3>\n";
}

// ---- the page's parts ------------------------------------------------------

std::string intro_line(const ReportRun& run, size_t index) {
  const json& e = run.eval;
  std::string data = json_string(e, {"data"}), device = json_string(e, {"device"});
  if (data.empty()) data = json_string(run.config, {"common", "data"});
  if (device.empty()) device = json_string(run.config, {"common", "device"});
  std::optional<double> epochs = json_number(e, {"costs", "epochs"}), steps = json_number(e, {"costs", "train_steps"});
  if (!epochs && run.metrics) epochs = run.metrics->last("epoch", "epoch");
  if (!steps && run.metrics) steps = run.metrics->last("epoch", "step");
  if (!steps && run.metrics) steps = run.metrics->last("step", "step");

  std::vector<std::string> parts{upper(run.model.empty() ? "?" : run.model) + " on " + (data.empty() ? "?" : data),
                                 device.empty() ? "device ?" : device, format_count(epochs) + " epochs",
                                 format_count(steps) + " steps"};
  if (auto n = json_number(e, {"n"})) {
    std::string sampled = format_count(n) + " samples evaluated";
    const std::string sampler = json_string(e, {"sampler", "name"});
    if (!sampler.empty()) {
      sampled += " (" + sampler;
      if (auto s = json_number(e, {"sampler", "steps"})) sampled += ", " + format_count(s) + " steps";
      if (auto eta = json_number(e, {"sampler", "eta"}); eta && sampler == "ddim") sampled += ", \u03b7 " + format_significant(eta, 2);
      sampled += ")";
    }
    parts.push_back(sampled);
  }
  std::string html = "<li><span class=\"swatch\" style=\"background:" + series_colour(index) + "\"></span><b>" +
                     html_escape(run.name) + "</b> \u2014 ";
  for (size_t i = 0; i < parts.size(); ++i) html += (i ? " \u00b7 " : "") + html_escape(parts[i]);
  html += " <code>" + html_escape(run.path) + "</code>";
  for (const std::string& n : run.notes) html += " <small>(" + html_escape(n) + ")</small>";
  return html + "</li>\n";
}

// "" when the runs had one budget: about the same training time (within a
// quarter), or the same number of epochs or of steps. Else what each had.
std::string unequal_budgets(const std::vector<ReportRun>& runs) {
  std::vector<double> times, steps, epochs;
  std::string each;
  for (const ReportRun& r : runs) {
    const auto t = json_number(r.eval, {"costs", "train_time_s"});
    const auto s = json_number(r.eval, {"costs", "train_steps"});
    const auto e = json_number(r.eval, {"costs", "epochs"});
    if (!t || !s || !e) return "";  // a run that does not say: nothing to compare
    times.push_back(*t);
    steps.push_back(*s);
    epochs.push_back(*e);
    each += (each.empty() ? "" : ", ") + r.name + " " + format_count(*s) + " steps in " + format_fixed(*t, 0) + " s";
  }
  if (runs.size() < 2) return "";
  auto same = [](const std::vector<double>& v, double tolerance) {
    const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
    return *hi <= *lo * (1 + tolerance);
  };
  if (same(times, 0.25) || same(steps, 0) || same(epochs, 0)) return "";
  return "the runs had unequal training budgets (" + each +
         "): neither their time, their steps nor their epochs match, so a difference in quality may be one of budget";
}

// Warnings when the numbers of the runs cannot be compared.
std::string comparability_notes(const std::vector<ReportRun>& runs) {
  std::set<std::string> data, classifiers;
  std::set<double> samples;
  for (const ReportRun& r : runs) {
    if (const std::string d = json_string(r.eval, {"data"}); !d.empty()) data.insert(d);
    if (const std::string c = json_string(r.eval, {"classifier", "path"}); !c.empty()) classifiers.insert(c);
    if (const auto n = json_number(r.eval, {"n"})) samples.insert(*n);
  }
  std::string html;
  if (data.size() > 1) html += note("the runs were evaluated on different data sets: their numbers are not comparable");
  else if (classifiers.size() > 1)
    html += note("the runs were evaluated with different classifiers: their feature-space metrics are not comparable");
  if (samples.size() > 1)
    html += note("the runs were evaluated with different numbers of samples (--n): FID, precision and recall "
                 "depend on it, so compare them only between runs of the same --n");
  if (const std::string budgets = unequal_budgets(runs); !budgets.empty()) html += note(budgets);
  return html;
}

std::string classifier_line(const std::vector<ReportRun>& runs) {
  for (const ReportRun& r : runs) {
    const std::string path = json_string(r.eval, {"classifier", "path"});
    if (path.empty()) continue;
    const auto dim = json_number(r.eval, {"classifier", "feature_dim"});
    const auto acc = json_number(r.eval, {"classifier", "test_accuracy"});
    return "<p class=\"hint\">Feature-space metrics use the classifier <code>" + html_escape(path) + "</code> (" +
           format_count(dim) + " features, test accuracy " + (acc ? format_fixed(100 * *acc, 1) + "%" : kMissing) +
           ").</p>\n";
  }
  return "";
}

std::string samples_section(const std::vector<ReportRun>& runs) {
  std::string html = "<div class=\"figures\">\n";
  for (const ReportRun& r : runs) {
    const std::string caption = "<b>" + html_escape(r.name) + "</b> \u00b7 " + html_escape(upper(r.model)) +
                                " \u00b7 FID " + html_escape(format_fixed(json_number(r.eval, {"metrics", "fid"}), 2));
    html += eval_figure(r, "samples", 640, caption);
  }
  return html + "</div>\n";
}

std::string epochs_section(const std::vector<ReportRun>& runs) {
  std::string html;
  for (size_t i = 0; i < runs.size(); ++i) {
    const ReportRun& r = runs[i];
    html += run_heading(r, i);
    const std::vector<EpochImage> all = r.epoch_images("epoch");
    if (all.empty()) {
      html += note(r.name + ": no samples/epoch_NNN.png");
      continue;
    }
    // Four grids fit the page's width at their own size (three beside the VAE's reconstructions).
    const std::vector<EpochImage> recon = r.epoch_images("recon");
    const std::vector<EpochImage> shown = evenly_spaced(all, recon.empty() ? 4 : 3);
    html += "<div class=\"strip\">\n";
    for (const EpochImage& e : shown) html += figure(e.path, "epoch " + std::to_string(e.epoch), 250);
    if (!recon.empty())
      html += figure(recon.back().path, "reconstructions at epoch " + std::to_string(recon.back().epoch) +
                                            ": rows of test images, each followed by their reconstructions",
                     250);
    html += "</div>\n<p class=\"hint\">" +
            (all.size() > shown.size()
                 ? std::to_string(shown.size()) + " of " + std::to_string(all.size()) + " epochs, from"
                 : std::string("From")) +
            " the same noise every epoch.</p>\n";
  }
  return html;
}

// The charts of one model (the registry's), none for a model it does not know.
std::vector<ChartSpec> chart_specs(const std::string& model) {
  const ModelEntry* entry = find_model(model);
  return entry ? entry->charts : std::vector<ChartSpec>{};
}

bool draws_trajectories(const std::string& model) {
  const ModelEntry* entry = find_model(model);
  return entry && entry->draws_trajectories;
}

std::string curves_section(const std::vector<ReportRun>& runs) {
  std::string html;
  for (size_t i = 0; i < runs.size(); ++i) {
    const ReportRun& r = runs[i];
    html += run_heading(r, i);
    if (!r.metrics) {
      html += note(r.name + ": no readable metrics.csv, so no curves");
      continue;
    }
    const std::vector<ChartSpec> specs = chart_specs(r.model);
    if (specs.empty()) html += note(r.name + ": no charts for a model called '" + r.model + "'");
    html += "<div class=\"charts\">\n";
    for (const ChartSpec& spec : specs) {
      html += "<figure class=\"chart\">" +
              svg_line_chart(chart_series(*r.metrics, spec),
                             {spec.title, spec.x, spec.y_label, 540, 300, spec.log_y, spec.x == "epoch"}) +
              "</figure>\n";
    }
    html += "</div>\n";
  }
  return html;
}

bool has_trajectories(const std::vector<ReportRun>& runs) {
  for (const ReportRun& r : runs)
    if (draws_trajectories(r.model) || !json_string(r.eval, {"images", "trajectory"}).empty() ||
        !r.epoch_images("trajectory").empty())
      return true;
  return false;
}

std::string trajectories_section(const std::vector<ReportRun>& runs) {
  std::string html;
  for (size_t i = 0; i < runs.size(); ++i) {
    const ReportRun& r = runs[i];
    const std::vector<EpochImage> strips = r.epoch_images("trajectory");
    const bool named = !json_string(r.eval, {"images", "trajectory"}).empty();
    if (!draws_trajectories(r.model) && strips.empty() && !named) continue;
    html += run_heading(r, i) + "<div class=\"figures\">\n";
    html += eval_figure(r, "trajectory", 700, "<b>" + html_escape(r.name) + "</b> \u00b7 evaluation sampler, from noise to image",
                        true);
    if (!strips.empty())
      html += figure(strips.back().path, "training-time sampler at epoch " + std::to_string(strips.back().epoch) +
                                             ": each row one sample, x<sub>T</sub> on the left to x<sub>0</sub> on the "
                                             "right (scroll for more rows)",
                     700, true);
    html += "</div>\n";
  }
  return html;
}

std::string nearest_section(const std::vector<ReportRun>& runs) {
  std::string html = "<p>Each row: a generated sample (left), then its nearest training images by L2 distance in "
                     "pixel space, nearest first. A model that copies its training set shows twins here, and a median "
                     "distance well below that of test images to the training set.</p>\n<div class=\"figures\">\n";
  for (const ReportRun& r : runs) {
    const auto d = json_number(r.eval, {"metrics", "nn_distance_median"});
    const auto t = json_number(r.eval, {"metrics", "nn_distance_median_test"});
    html += eval_figure(r, "nearest", 420,
                        "<b>" + html_escape(r.name) + "</b> \u00b7 median distance generated\u2192train " +
                            html_escape(format_fixed(d, 2)) + ", test\u2192train " + html_escape(format_fixed(t, 2)));
  }
  return html + "</div>\n";
}

std::string page(const std::vector<ReportRun>& runs) {
  const bool trajectories = has_trajectories(runs);
  std::string title = "nanogen: ";
  for (size_t i = 0; i < runs.size(); ++i) title += (i ? " vs " : "") + runs[i].name;

  std::string html = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                     "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>" +
                     html_escape(title) + "</title>\n<style>" + kStyle + "</style>\n</head>\n<body>\n<main>\n";
  html += "<h1>" + html_escape(title) + "</h1>\n<p class=\"date\">Comparison report, " + utc_now("%Y-%m-%d %H:%M UTC") +
          "</p>\n<ul class=\"runs\">\n";
  for (size_t i = 0; i < runs.size(); ++i) html += intro_line(runs[i], i);
  html += "</ul>\n<nav><a href=\"#metrics\">Metrics</a><a href=\"#samples\">Samples</a>"
          "<a href=\"#epochs\">Over the epochs</a><a href=\"#curves\">Training curves</a>";
  if (trajectories) html += "<a href=\"#trajectories\">Trajectories</a>";
  html += "<a href=\"#nearest\">Nearest training images</a></nav>\n";

  html += "<section id=\"metrics\">\n<h2>Metrics</h2>\n" + comparability_notes(runs) + classifier_line(runs) +
          metrics_section_html(runs) + "</section>\n";
  html += "<section id=\"samples\">\n<h2>Samples</h2>\n" + samples_section(runs) + "</section>\n";
  html += "<section id=\"epochs\">\n<h2>Samples over the epochs</h2>\n" + epochs_section(runs) + "</section>\n";
  html += "<section id=\"curves\">\n<h2>Training curves</h2>\n" + curves_section(runs) + "</section>\n";
  if (trajectories)
    html += "<section id=\"trajectories\">\n<h2>DDPM trajectories</h2>\n" + trajectories_section(runs) + "</section>\n";
  html += "<section id=\"nearest\">\n<h2>Nearest training images</h2>\n" + nearest_section(runs) + "</section>\n";
  html += "<footer>Written by <code>nanogen compare</code>; everything on this page is inside this one file.</footer>\n";
  return html + "</main>\n</body>\n</html>\n";
}

}  // namespace

std::string write_comparison(const std::vector<std::string>& runs, const std::string& out_dir) {
  NG_CHECK(!runs.empty(), "compare: no runs given");
  NG_CHECK(!out_dir.empty(), "compare: --out must name a folder");
  std::vector<ReportRun> loaded;
  for (const std::string& path : runs) loaded.push_back(load_report_run(path));
  name_runs(loaded);
  const std::string html = page(loaded);
  fs::create_directories(out_dir);
  const std::string path = (fs::path(out_dir) / "report.html").string();
  write_file_atomically(path, html.data(), html.size());
  return path;
}

}  // namespace ng::tools
