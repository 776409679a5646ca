// Where a run stands, from its folder's files alone (tools/run_folder.h
// describes them): `nanogen runs` lists these, `nanogen show` prints one.
//
// Nothing here writes to the folder or takes its lock, so a training that
// is running is never disturbed by being looked at. A folder that cannot be
// read in full is still described, with its problems, instead of throwing:
// one damaged run must not hide the others.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tools/metrics_csv.h"

namespace ng::tools {

// What the files prove about a run, in the order it is decided:
//   running      a process holds the folder's lock (tools/run_folder.h)
//   damaged      config.json, metrics.csv or eval.json cannot be read
//   new          no checkpoint yet (a first session that stopped before
//                one; train again without --resume)
//   finished     config.json's --max-steps is reached (mid-epoch or not:
//                resuming as it is trains nothing), or every epoch it asks
//                for is done (checked after "stopped")
//   stopped      the last row of metrics.csv is a "stop" row: Ctrl-C or
//                --time-limit ended a session mid-epoch, with a checkpoint;
//                --resume continues it
//   interrupted  a checkpoint but fewer epochs than asked and no "stop" row:
//                the process was killed, crashed or diverged (or a
//                --time-limit fell on an epoch's end); --resume continues it
struct RunStatus {
  std::string path;                  // the folder as found
  std::string name;                  // its last component
  std::string state;                 // one of the words above
  std::string state_note;            // "process 1234", "resume with --resume", the first problem
  std::vector<std::string> problems; // why the folder is damaged, one per file
  nlohmann::json config;             // config.json, or null
  nlohmann::json eval;               // eval.json, or null
  std::optional<MetricsTable> metrics;
  std::string model, data;           // "" when unknown
  std::optional<int64_t> epochs_done, epochs_asked, last_step;
  std::optional<double> checkpoint_age_s;  // since last.safetensors was written
  std::optional<int64_t> lock_holder;      // the pid of a running training

  // The last "epoch" row of metrics.csv, or nullptr.
  const MetricsRow* last_epoch() const;
};

// A metric the listing shows for a model: its metrics.csv column and a
// label ("test_loss", "test -ELBO").
struct MainMetric {
  std::string column, label;
};
// The last epoch's headline numbers of each model (none for an unknown one).
std::vector<MainMetric> main_metrics(const std::string& model);

// v as an integer when it is one (finite, whole, within +-2^53); else
// nullopt. Files a person may have edited are read through it: casting NaN
// or 1e300 to int64_t is undefined behaviour.
std::optional<int64_t> whole_number(double v);

// Reads the folder at `path`. Never throws for what is inside it.
RunStatus read_run_status(const std::string& path);

// The run folders directly under `dir` (those with a config.json, or with the
// .lock a training makes before it writes one), sorted by name. Throws when
// `dir` is not a folder.
std::vector<RunStatus> list_runs(const std::string& dir);

// The pid of the process holding an flock on `file`, read from
// /proc/locks (looking, not trying the lock, which could make a training
// starting at that moment fail); nullopt when none holds it or /proc/locks
// cannot be read.
std::optional<int64_t> flock_holder(const std::string& file);

// One run as `nanogen runs --json` prints it: {"run", "name", "model",
// "data", "epochs_done", "epochs_asked", "last_step", "metrics": {column:
// value of main_metrics}, "fid", "state", "state_note", "checkpoint_age_s",
// "problems"}; unknown numbers are null.
nlohmann::json run_status_json(const RunStatus& run);
// `nanogen show --json`: run_status_json plus "config" (config.json),
// "last_epoch" (the whole row), "eval" (eval.json's headline numbers) and
// "files" ([{"path", "bytes", "modified"}, {"path": "samples/", "files", "bytes"}]).
nlohmann::json run_details_json(const RunStatus& run);

}  // namespace ng::tools
