// nanogen: train, sample from and evaluate generative models.
//
//   nanogen train vae|gan|ddpm|classifier [--epochs N] [--device cpu] ...
//   nanogen sample runs/vae --n 64 --out samples.png
//   nanogen eval runs/vae --n 10000
//   nanogen compare runs/vae runs/gan runs/ddpm --out report
//   nanogen runs [DIR] [--json]          nanogen show runs/vae [--json]
//   nanogen plot runs/gan-a runs/gan-b --y d_fake --out d_fake.png
//
// Results go to stdout, progress and logs to stderr (train, sample and eval
// take --quiet: no progress there; and --json: the summary as one JSON
// object). Every error becomes one line on stderr and a non-zero exit status.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "engine/dist/communicator.h"
#include "tools/cli.h"
#include "tools/compare.h"
#include "tools/model_registry.h"
#include "tools/progress.h"
#include "tools/suggest.h"

using namespace ng::tools;

int main(int argc, char** argv) {
  CLI::App app{"nanogen: train, sample from and evaluate VAEs, GANs and DDPMs with our own tensor engine"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("nanogen ") + NANOGEN_VERSION + " (commit " + NANOGEN_COMMIT + ")");
  Commands commands;

  CLI::App* train = app.add_subcommand("train", "train a model; writes a run folder (runs/<model>)");
  train->require_subcommand(1);
  for (const ModelEntry& model : registered_models()) model.add_train(train, commands);

  add_sample(app, commands);
  add_eval(app, commands);
  add_runs(app, commands);
  add_plot(app, commands);

  CLI::App* compare = app.add_subcommand("compare", "put evaluated runs side by side in one HTML page (DIR/report.html)");
  std::vector<std::string> compare_runs;
  std::string compare_out = "report";
  compare->add_option("runs", compare_runs, "run folders, each evaluated with `nanogen eval`")->required();
  compare->add_option("--out", compare_out, "folder to write report.html into")->capture_default_str();
  commands.emplace_back(compare, [&] { std::printf("%s\n", write_comparison(compare_runs, compare_out).c_str()); });

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForVersion& e) {
    std::printf("%s\n", e.what());  // CLI11 2.1 prints it without a newline
    return 0;
  } catch (const CLI::ParseError& e) {
    // A mistyped command or option gets our hint alone (what was wrong and
    // the nearest name), not CLI11's generic message above it.
    const std::string hint =
        e.get_exit_code() == 0 ? "" : command_line_hint(app, std::vector<std::string>(argv + 1, argv + argc));
    if (hint.empty()) return app.exit(e);
    std::fprintf(stderr, "nanogen: error: %s\n", hint.c_str());
    return e.get_exit_code();
  }
  try {
    // Under an MPI launcher every rank runs this program: rank 0 alone
    // prints results and progress (any rank's error still reaches stderr).
    if (ng::dist::started_by_mpi_launcher() && !ng::dist::world().is_root()) {
      ng::tools::set_quiet(true);
      if (std::freopen("/dev/null", "w", stdout) == nullptr) {
        // stdout is closed instead: nothing prints either way.
      }
    }
    for (auto& [cmd, action] : commands)
      if (cmd->parsed()) action();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "nanogen: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
