// `nanogen plot`: one column of several runs' metrics.csv (or of any CSV in
// that format: a "kind" column first) as lines in one PNG chart, a run a
// line, so runs can be compared by their curves without a browser:
//
//   nanogen plot runs/gan-minimax runs/gan-hinge --y d_fake --out d_fake.png
//
// The charts are tools/png_chart.h's, as in RUN/curves/.
#pragma once

#include <string>
#include <vector>

#include "tools/svg_chart.h"

namespace ng::tools {

struct PlotOptions {
  std::vector<std::string> y;       // columns to draw: a line per (source, column)
  std::string x = "step";           // the x column
  std::string kind = "step";        // rows of this kind only ("step", "epoch", ...)
  std::vector<std::string> labels;  // a name per source (default: the folder's or file's name)
  std::string title, y_label;       // default: the column names
  bool log_y = false, log_x = false;
  int width = 640, height = 400;
};

// The series: for each source (a run folder, whose metrics.csv is read, or a
// CSV file) and each column of `y`, the (x, y) of its rows of `kind`. A line
// is named by its source's label, followed by the column when there are
// several. Throws a clear error for a source that cannot be read, a column it
// does not have (naming the ones it has), or labels that do not match the
// sources one to one.
std::vector<ChartSeries> plot_series(const std::vector<std::string>& sources, const PlotOptions& options);

// plot_series drawn into the PNG `out` (written atomically).
void save_plot(const std::vector<std::string>& sources, const PlotOptions& options, const std::string& out);

}  // namespace ng::tools
