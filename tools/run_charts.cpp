#include "tools/run_charts.h"

#include <cctype>
#include <filesystem>

#include "tools/png_chart.h"

namespace ng::tools {

namespace {

// The chart's words in the bitmap font's ASCII: the few symbols the
// registry's titles use spelled out, anything else left to the font's '?'.
std::string ascii_text(std::string text) {
  const std::pair<const char*, const char*> spelled[] = {{"\u2212", "-"}, {"\u03b5", "eps"}};
  for (const auto& [symbol, ascii] : spelled)
    for (size_t at = text.find(symbol); at != std::string::npos; at = text.find(symbol, at))
      text.replace(at, std::string(symbol).size(), ascii);
  return text;
}

}  // namespace

std::vector<ChartSeries> chart_series(const MetricsTable& metrics, const ChartSpec& spec) {
  std::vector<ChartSeries> series;
  for (const std::string& column : spec.columns) {
    if (!metrics.has_column(column)) continue;
    ChartSeries s{column, {}, {}};
    for (const auto& [x, y] : metrics.series(spec.kind, column, spec.x)) s.x.push_back(x), s.y.push_back(y);
    series.push_back(std::move(s));
  }
  return series;
}

std::string chart_file_stem(const std::string& title) {
  std::string stem;
  for (const char c : title) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u < 128 && std::isalnum(u))
      stem += char(std::tolower(u));
    else if (!stem.empty() && stem.back() != '_')
      stem += '_';
  }
  while (!stem.empty() && stem.back() == '_') stem.pop_back();
  return stem.empty() ? "chart" : stem;
}

std::vector<std::string> save_run_charts(const std::string& run, const std::string& model) {
  const ModelEntry* entry = find_model(model);
  if (!entry) return {};
  const MetricsTable metrics = read_metrics_csv(run + "/metrics.csv");
  std::filesystem::create_directories(run + "/curves");
  std::vector<std::string> written;
  for (const ChartSpec& spec : entry->charts) {
    const std::string path = run + "/curves/" + chart_file_stem(spec.title) + ".png";
    save_line_chart_png(path, chart_series(metrics, spec),
                        {ascii_text(spec.title), spec.x, ascii_text(spec.y_label), 640, 400, spec.log_y,
                         spec.x == "epoch"});
    written.push_back(path);
  }
  return written;
}

}  // namespace ng::tools
