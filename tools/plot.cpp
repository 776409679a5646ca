#include "tools/plot.h"

#include <filesystem>

#include "engine/error.h"
#include "tools/metrics_csv.h"
#include "tools/png_chart.h"

namespace ng::tools {

namespace {

namespace fs = std::filesystem;

// A run folder stands for its metrics.csv.
std::string csv_of(const std::string& source) {
  return fs::is_directory(source) ? (fs::path(source) / "metrics.csv").string() : source;
}

// "runs/gan-hinge/" -> "gan-hinge"; "fid.csv" -> "fid".
std::string default_label(const std::string& source) {
  fs::path p(source);
  if (!p.has_filename()) p = p.parent_path();  // a trailing '/'
  return fs::is_directory(p) ? p.filename().string() : p.stem().string();
}

std::string joined(const std::vector<std::string>& words) {
  std::string text;
  for (const std::string& w : words) text += (text.empty() ? "" : ", ") + w;
  return text;
}

}  // namespace

std::vector<ChartSeries> plot_series(const std::vector<std::string>& sources, const PlotOptions& o) {
  NG_CHECK(!sources.empty(), "plot: no run folder or CSV file given");
  NG_CHECK(!o.y.empty(), "plot: no column to draw (--y COLUMN[,COLUMN...])");
  NG_CHECK(o.labels.empty() || o.labels.size() == sources.size(), "plot: ", o.labels.size(), " labels for ",
           sources.size(), " sources; give one label per run folder or CSV file");
  std::vector<ChartSeries> series;
  for (size_t i = 0; i < sources.size(); ++i) {
    const std::string path = csv_of(sources[i]);
    const MetricsTable table = read_metrics_csv(path);
    const std::string label = o.labels.empty() ? default_label(sources[i]) : o.labels[i];
    auto require = [&](const std::string& column) {
      NG_CHECK(table.has_column(column), "plot: ", path, " has no column '", column, "' (it has ",
               joined(table.columns), ")");
    };
    require(o.x);
    for (const std::string& column : o.y) {
      require(column);
      ChartSeries s{o.y.size() > 1 ? label + " " + column : label, {}, {}};
      for (const auto& [x, y] : table.series(o.kind, column, o.x)) s.x.push_back(x), s.y.push_back(y);
      series.push_back(std::move(s));
    }
  }
  return series;
}

void save_plot(const std::vector<std::string>& sources, const PlotOptions& o, const std::string& out) {
  NG_CHECK(!out.empty(), "plot: no output file (--out FILE.png)");
  const std::string columns = joined(o.y);
  save_line_chart_png(out, plot_series(sources, o),
                      {o.title.empty() ? columns : o.title, o.x, o.y_label.empty() ? columns : o.y_label, o.width,
                       o.height, o.log_y, o.x == "epoch", o.log_x});
}

}  // namespace ng::tools
