#include "tools/report_metrics.h"

#include <algorithm>
#include <functional>
#include <optional>

#include "tools/html.h"
#include "tools/report_format.h"
#include "tools/svg_chart.h"

namespace ng::tools {

namespace {

using nlohmann::json;
using Keys = std::vector<std::string>;

// Below this recall a run is never marked best (see metrics_section_html).
constexpr double kMinRecallForBest = 0.05;

enum class Better { lower, higher, none };

// One row of the table.
struct MetricRow {
  std::string label;
  std::string explanation;                    // the legend's line
  Better better = Better::none;
  Keys key;                                   // the value compared, in eval.json
  std::function<std::string(std::optional<double>)> format;
  Keys reference_key;                         // the real data's value (any run's), if there is one
  std::function<std::string(const json&)> detail;  // more HTML after the value (e.g. KID's ± std)
  std::function<std::string(const json&)> hover;   // plain text on hover
};

std::function<std::string(std::optional<double>)> fixed(int decimals) {
  return [decimals](std::optional<double> v) { return format_fixed(v, decimals); };
}

// A value with as many decimals as `like` (a mean's) has, so that mean ± std line up.
std::string with_decimals_of(double v, const std::string& like) {
  const size_t dot = like.find('.');
  if (like.find('e') != std::string::npos || dot == std::string::npos) return format_significant(v, 2);
  return format_fixed(v, int(like.size() - dot - 1));
}

std::string small(const std::string& text) { return text.empty() ? "" : " <small>" + html_escape(text) + "</small>"; }

// The class histogram as little bars beside the number of classes covered.
std::string histogram_bars(const json& eval) {
  const json* h = nullptr;
  if (eval.contains("metrics") && eval["metrics"].is_object() && eval["metrics"].contains("class_histogram"))
    h = &eval["metrics"]["class_histogram"];
  if (!h || !h->is_array() || h->empty()) return "";
  std::vector<double> values;
  std::vector<std::string> hover;
  double top = 0;
  for (size_t i = 0; i < h->size(); ++i) {
    const double v = (*h)[i].is_number() ? (*h)[i].get<double>() : 0.0;
    values.push_back(v);
    hover.push_back("class " + std::to_string(i) + ": " + format_fixed(100 * v, 1) + "% of the samples");
    top = std::max(top, v);
  }
  return " " + svg_bars(values, top > 0 ? top : 1, hover, int(6 * values.size()), 18);
}

std::vector<MetricRow> metric_rows() {
  std::vector<MetricRow> rows;
  rows.push_back({"FID \u2193", "Fr\u00e9chet distance between Gaussians fitted to the classifier's features of generated "
                  "and test images; 0 when their means and covariances agree.",
                  Better::lower, {"metrics", "fid"}, fixed(2), {"reference", "fid_train_vs_test"}, nullptr, nullptr});
  rows.push_back({"KID \u2193", "Kernel inception distance: unbiased squared MMD with a cubic polynomial kernel on the same "
                  "features, mean \u00b1 std over random subsets; near 0 for matching distributions, unbiased for "
                  "small samples.",
                  Better::lower, {"metrics", "kid_mean"}, [](std::optional<double> v) { return format_significant(v, 3); },
                  {"reference", "kid_train_vs_test"},
                  [](const json& e) {
                    const auto sd = json_number(e, {"metrics", "kid_std"});
                    if (!sd) return std::string();
                    return " \u00b1 " + with_decimals_of(*sd, format_significant(json_number(e, {"metrics", "kid_mean"}), 3));
                  },
                  [](const json& e) {
                    const auto n = json_number(e, {"metrics", "kid_subsets"}), m = json_number(e, {"metrics", "kid_subset_size"});
                    return n && m ? format_count(n) + " subsets of " + format_count(m) : std::string();
                  }});
  auto pr_hover = [](const json& e) {
    const auto k = json_number(e, {"metrics", "pr_k"});
    return k ? "k = " + format_count(k) + " nearest neighbours" : std::string();
  };
  rows.push_back({"Precision \u2191", "Fidelity: the fraction of generated images inside the real images' k-nearest-neighbour "
                  "manifold in feature space.",
                  Better::higher, {"metrics", "precision"}, fixed(3), {"reference", "precision_train_vs_test"}, nullptr,
                  pr_hover});
  rows.push_back({"Recall \u2191", "Diversity: the fraction of real images inside the generated images' manifold.",
                  Better::higher, {"metrics", "recall"}, fixed(3), {"reference", "recall_train_vs_test"}, nullptr,
                  pr_hover});
  rows.push_back({"Classifier score \u2191", "exp(E KL(p(y|x) || p(y))): the Inception Score computed with our classifier; "
                  "at most the number of classes.",
                  Better::higher, {"metrics", "classifier_score"}, fixed(2), {}, nullptr, nullptr});
  rows.push_back({"Classes covered \u2191", "Classes that receive at least half their fair share of the samples (by the "
                  "classifier's most likely label); the bars are the class histogram.",
                  Better::higher, {"metrics", "classes_covered"}, fixed(0), {}, histogram_bars, nullptr});
  rows.push_back({"Conditional label entropy \u2193", "Mean entropy of p(y|x) in nats: low when each sample clearly looks "
                  "like one class.",
                  Better::lower, {"metrics", "conditional_entropy"}, fixed(3), {}, nullptr, nullptr});
  rows.push_back({"Marginal label entropy \u2191", "Entropy of p(y) = mean of p(y|x), in nats: ln 10 = 2.303 when ten "
                  "classes are equally frequent.",
                  Better::higher, {"metrics", "marginal_entropy"}, fixed(3), {}, nullptr, nullptr});
  rows.push_back({"Bits/dim \u2193", "A bound on the negative log-likelihood of test images, in bits per 8-bit pixel "
                  "value (lower is better; a GAN has no likelihood). See the notes under the table.",
                  Better::lower, {"metrics", "bits_per_dim"}, fixed(3), {}, nullptr,
                  [](const json& e) { return json_string(e, {"metrics", "bits_per_dim_note"}); }});
  rows.push_back({"NN distance (gen\u2192train)", "Median L2 distance in pixels from a generated image to its nearest "
                  "training image, beside the same for test images (the real data column). Far below the test "
                  "value means the model copies its training set.",
                  Better::none, {"metrics", "nn_distance_median"}, fixed(2), {"metrics", "nn_distance_median_test"},
                  [](const json& e) {
                    const auto t = json_number(e, {"metrics", "nn_distance_median_test"});
                    return t ? small("test " + format_fixed(t, 2)) : std::string();
                  },
                  nullptr});
  rows.push_back({"Parameters", "Trainable parameters of the network that draws the samples (for a GAN the generator; "
                                "its discriminator is shown beside it).",
                  Better::none, {"costs", "parameters"}, format_count, {},
                  [](const json& e) {
                    const auto d = json_number(e, {"costs", "extra_parameters"});
                    return d && *d > 0 ? small("+ " + format_count(d) + " D") : std::string();
                  },
                  nullptr});
  rows.push_back({"Training time", "Wall-clock time of the training steps (all epochs and sessions; per-epoch evaluation excluded), with the number of optimizer steps. A budget rather than a result: not ranked.",
                  Better::none, {"costs", "train_time_s"}, format_seconds, {},
                  [](const json& e) {
                    const auto s = json_number(e, {"costs", "train_steps"});
                    return s ? small(format_count(s) + " steps") : std::string();
                  },
                  nullptr});
  rows.push_back({"Sampling time / image \u2193", "Time to generate one image, in milliseconds (batched).",
                  Better::lower, {"costs", "sample_time_per_image_ms"},
                  [](std::optional<double> v) { return v ? format_significant(v, 3) + " ms" : kMissing; }, {}, nullptr,
                  nullptr});
  auto megabytes = [](std::optional<double> v) { return v ? format_fixed(v, 0) + " MB" : kMissing; };
  rows.push_back({"Peak memory, training \u2193", "The most memory the device held while training.", Better::lower,
                  {"costs", "train_peak_memory_mb"}, megabytes, {}, nullptr, nullptr});
  rows.push_back({"Peak memory, sampling \u2193", "The most memory the device held while sampling.", Better::lower,
                  {"costs", "sample_peak_memory_mb"}, megabytes, {}, nullptr, nullptr});
  return rows;
}

// The first run's value at `keys` (runs on the same data share the reference).
std::optional<double> reference_value(const std::vector<ReportRun>& runs, const Keys& keys) {
  if (keys.empty()) return std::nullopt;
  for (const ReportRun& r : runs)
    if (auto v = json_number(r.eval, keys)) return v;
  return std::nullopt;
}

bool may_be_best(const ReportRun& run) {
  const auto recall = json_number(run.eval, {"metrics", "recall"});
  return !recall || *recall >= kMinRecallForBest;
}

bool has_reference(const std::vector<ReportRun>& runs) {
  for (const MetricRow& row : metric_rows())
    if (reference_value(runs, row.reference_key)) return true;
  return false;
}

}  // namespace

std::string metrics_section_html(const std::vector<ReportRun>& runs) {
  const std::vector<MetricRow> rows = metric_rows();
  const bool reference = has_reference(runs);

  std::vector<Cell> header{text_cell("")};
  for (size_t i = 0; i < runs.size(); ++i)
    header.push_back({"<span class=\"swatch\" style=\"background:" + series_colour(i) + "\"></span>" +
                          html_escape(runs[i].name) + "<br><span class=\"badge\">" + html_escape(runs[i].model) +
                          "</span>",
                      "run", runs[i].path});
  if (reference) header.push_back({"real data<br><small>train vs test</small>", "reference", ""});
  HtmlTable table(header, "metrics");

  std::string footnotes;
  int footnote_count = 0;
  for (const MetricRow& row : rows) {
    // The best formatted value among the runs that have one; marked only when
    // two or more do. A run whose recall is near 0 (its samples cover almost
    // none of the data: noise, or one mode) is never marked: its precision,
    // say, can beat real data's.
    std::vector<std::optional<double>> values;
    for (const ReportRun& r : runs) values.push_back(json_number(r.eval, row.key));
    std::optional<double> best;
    int present = 0;
    for (size_t i = 0; i < values.size(); ++i) {
      const auto& v = values[i];
      if (!v) continue;
      ++present;
      if (!may_be_best(runs[i])) continue;
      if (!best || (row.better == Better::lower ? *v < *best : *v > *best)) best = v;
    }
    const bool mark = row.better != Better::none && present >= 2;

    std::vector<Cell> cells{{html_escape(row.label), "", row.explanation}};
    for (size_t i = 0; i < runs.size(); ++i) {
      const std::string text = row.format(values[i]);
      Cell c{values[i] ? html_escape(text) : "<span class=\"missing\">" + std::string(kMissing) + "</span>", "", ""};
      if (values[i] && row.detail) c.html += row.detail(runs[i].eval);
      if (row.hover) c.title = row.hover(runs[i].eval);
      if (mark && values[i] && may_be_best(runs[i]) && text == row.format(best)) c.css_class = "best";
      // The bits/dim notes become numbered footnotes.
      if (row.key.back() == "bits_per_dim" && !c.title.empty()) {
        const std::string n = std::to_string(++footnote_count);
        c.html += "<sup><a href=\"#bpd-note-" + n + "\">" + n + "</a></sup>";
        footnotes += "<li id=\"bpd-note-" + n + "\"><b>" + html_escape(runs[i].name) + "</b>: " +
                     html_escape(c.title) + "</li>\n";
      }
      cells.push_back(std::move(c));
    }
    if (reference) {
      const auto v = reference_value(runs, row.reference_key);
      cells.push_back({v ? html_escape(row.format(v)) : "", "reference", ""});
    }
    table.add_row(std::move(cells));
  }

  std::string html = "<div class=\"table-wrap\">" + table.html() + "</div>\n";
  html += "<p class=\"hint\">\u2193 lower is better, \u2191 higher is better; the best run in each row is "
          "<span class=\"best-sample\">highlighted</span>, never one whose recall is below " +
          format_fixed(kMinRecallForBest, 2) + ". Hover over a value for details.</p>\n";
  if (!footnotes.empty()) html += "<ol class=\"footnotes\">\n" + footnotes + "</ol>\n";
  html += "<dl class=\"legend\">\n";
  for (const MetricRow& row : rows)
    html += "<dt>" + html_escape(row.label) + "</dt><dd>" + html_escape(row.explanation) + "</dd>\n";
  html += "</dl>\n";
  return html;
}

}  // namespace ng::tools
