// The metrics table of the comparison report: one column per run, a column
// of the real data's own values (train vs test) where eval.json has them,
// the best value of each comparable row marked, and a legend of one line per
// metric under it.
#pragma once

#include <string>
#include <vector>

#include "tools/report_run.h"

namespace ng::tools {

// The table, its footnotes and the legend, as an HTML fragment.
std::string metrics_section_html(const std::vector<ReportRun>& runs);

}  // namespace ng::tools
