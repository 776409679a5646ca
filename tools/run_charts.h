// A run's curves, from its metrics.csv, by the charts the model registry
// names for it (tools/model_registry.h): the series of one chart, shared by
// the HTML report, and the charts as PNGs in the run folder
// (RUN/curves/<title>.png), redrawn by the trainer after every epoch and at
// a stop, so that a run has its loss curves without a browser.
#pragma once

#include <string>
#include <vector>

#include "tools/metrics_csv.h"
#include "tools/model_registry.h"
#include "tools/svg_chart.h"

namespace ng::tools {

// One series per column of `spec` that the table has: its (x, y) from the
// rows of the spec's kind.
std::vector<ChartSeries> chart_series(const MetricsTable& metrics, const ChartSpec& spec);

// "Losses per step" -> "losses_per_step": lower-case ASCII letters and
// digits, runs of anything else one '_' (none at the ends).
std::string chart_file_stem(const std::string& title);

// Writes RUN/curves/<chart_file_stem(title)>.png for each of `model`'s
// charts from RUN/metrics.csv (a model the registry does not know has none).
// Returns the files written.
std::vector<std::string> save_run_charts(const std::string& run, const std::string& model);

}  // namespace ng::tools
