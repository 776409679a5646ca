// Every model nanogen trains, in one table: its `train` subcommand, how to
// sample from and evaluate one of its runs, and the charts of its report.
// `sample`, `eval`, `compare` and the command line ask this table instead of
// switching on a model's name; adding a model is one entry here (and its
// code under models/ and tools/).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/device.h"
#include "engine/tensor.h"
#include "tools/cli.h"
#include "tools/eval.h"
#include "tools/eval_models.h"

namespace ng::tools {

// One chart of a model's report: columns of metrics.csv against steps or epochs.
struct ChartSpec {
  std::string title, kind, x, y_label;
  std::vector<std::string> columns;
  bool log_y = false;
};

struct ModelEntry {
  std::string name;
  // Adds `train <name>` and its options to the command line.
  std::function<void(CLI::App* train, Commands& commands)> add_train;
  // The run's last checkpoint as a model that `nanogen sample` draws from and
  // `nanogen eval` scores; null when the model draws no images (the classifier).
  std::function<std::unique_ptr<EvaluatedModel>(const std::string& run, Device device, const EvalOptions& options)>
      open;
  std::vector<ChartSpec> charts;  // in `nanogen compare`
  bool draws_trajectories = false;  // its sampler is a chain worth showing (the DDPM)
};

// Every model, in the order the command line lists them.
const std::vector<ModelEntry>& registered_models();

// The entry of `name`, or null.
const ModelEntry* find_model(const std::string& name);

// The entry of the model a run folder was trained as (RUN/config.json);
// `command` names the caller in errors.
const ModelEntry& model_of_run(const std::string& run, const std::string& command);

}  // namespace ng::tools
