// `nanogen compare RUN... --out DIR`: one self-contained HTML page
// (DIR/report.html, images inlined as data URIs, charts as inline SVG) that
// puts evaluated runs side by side: the metrics table, each model's samples,
// its samples over the epochs, loss curves, DDPM trajectories and the
// nearest training images of a few samples.
#pragma once

#include <string>
#include <vector>

namespace ng::tools {

// Each run must have been evaluated (RUN/eval.json). Returns the page's path.
std::string write_comparison(const std::vector<std::string>& runs, const std::string& out_dir);

}  // namespace ng::tools
