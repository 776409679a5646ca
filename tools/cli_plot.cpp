// `nanogen plot SOURCE... --y COLUMN --out FILE.png`.
#include <cstdio>
#include <memory>

#include "tools/cli.h"
#include "tools/plot.h"

namespace ng::tools {

void add_plot(CLI::App& app, Commands& commands) {
  CLI::App* cmd = app.add_subcommand(
      "plot", "draw a column of several runs' metrics.csv (or CSV files like it) as lines in one PNG chart");
  auto sources = std::make_shared<std::vector<std::string>>();
  auto o = std::make_shared<PlotOptions>();
  auto out = std::make_shared<std::string>();
  cmd->add_option("sources", *sources, "run folders (their metrics.csv) or CSV files with a 'kind' column first")
      ->required();
  cmd->add_option("--y", o->y, "columns to draw, e.g. d_fake or d_real,d_fake")->required()->delimiter(',');
  cmd->add_option("--x", o->x, "the x column")->capture_default_str();
  cmd->add_option("--kind", o->kind, "rows of this kind only: step | epoch | ...")->capture_default_str();
  cmd->add_option("--labels", o->labels, "a legend name per source (default: the folder or file name)")
      ->delimiter(',');
  cmd->add_option("--title", o->title, "chart title (default: the columns)");
  cmd->add_option("--y-label", o->y_label, "y axis label (default: the columns)");
  cmd->add_flag("--log-y", o->log_y, "logarithmic y axis");
  cmd->add_flag("--log-x", o->log_x, "logarithmic x axis (e.g. against sampling steps)");
  cmd->add_option("--width", o->width, "pixels")->capture_default_str();
  cmd->add_option("--height", o->height, "pixels")->capture_default_str();
  cmd->add_option("--out", *out, "PNG file to write")->required();
  commands.emplace_back(cmd, [sources, o, out] {
    save_plot(*sources, *o, *out);
    std::printf("%s\n", out->c_str());
  });
}

}  // namespace ng::tools
