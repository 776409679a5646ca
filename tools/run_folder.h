// A run folder, runs/<name>/, holds everything about one training run:
//   config.json          the options it was started with
//   metrics.csv          one row per logged step and per epoch
//   log.txt              what was printed to stderr
//   samples/*.png        sample grids per epoch
//   curves/*.png         the loss curves, redrawn each epoch (tools/run_charts.h)
//   checkpoints/         safetensors: last.safetensors and epoch_NNN.safetensors
//   tensorboard/         events.out.tfevents.*: metrics.csv's rows as scalars
//                        and the sample grids as images, one file a session
//                        (`tensorboard --logdir runs`)
// so that it can be resumed, sampled from, evaluated and compared.
#pragma once

#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/io/safetensors.h"
#include "engine/tensor.h"
#include "tools/tensorboard.h"

namespace ng::tools {

class RunFolder {
 public:
  // Creates the folder (and its subfolders). Without `resume` an existing
  // run with a checkpoint is refused, so nothing a user made is overwritten.
  // The folder is locked while this object lives (an flock on its .lock
  // file, released by the kernel even when the process is killed): a second
  // training into it is refused instead of interleaving with this one. The
  // temporaries that a killed checkpoint write left behind are removed.
  //
  // With `writer` false (the other ranks of a data-parallel run, where rank
  // 0 alone writes) the folder is only read: nothing is made, locked or
  // written, log lines go nowhere, and every write below does nothing.
  RunFolder(const std::string& path, bool resume, bool writer = true);
  ~RunFolder();
  RunFolder(const RunFolder&) = delete;
  RunFolder& operator=(const RunFolder&) = delete;

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  std::string sample_path(const std::string& stem, int64_t epoch) const;  // samples/<stem>_NNN.png
  // Tiles `images` [N,C,H,W] in [0,1] into a grid of `nrow` a row (as
  // save_image_grid does), writes it to sample_path(stem, epoch) and adds it
  // to the TensorBoard file as the image "samples/<stem>" at `step`.
  void save_sample_grid(const std::string& stem, int64_t epoch, int64_t step, const Tensor& images, int64_t nrow);

  void write_config(const nlohmann::json& config) const;
  nlohmann::json read_config() const;

  // A line to log.txt and to stderr (not under --quiet, tools/progress.h).
  void log(const std::string& line);
  // A line that must be seen: to stderr even under --quiet, and to log.txt.
  void warn(const std::string& line);

  // Declares the columns of metrics.csv (after "kind"). An existing file of a
  // resumed run must have the same header, or a prefix of it (a run of an
  // earlier version): then its header is extended and its rows padded.
  void declare_metrics(const std::vector<std::string>& columns);
  // Appends a row; keys not among the columns are an error, missing ones blank.
  // A row with a "step" also goes to the TensorBoard file, each of its other
  // columns but "epoch" as a scalar at that step, tagged by the row's kind:
  // "train/<column>" for "step" rows, "<kind>/<column>" for the others
  // ("epoch/test_loss", "stop/time_s").
  void metrics(const std::map<std::string, double>& row, const std::string& kind);
  // Drops the rows of steps after `step`: on resume from a checkpoint at
  // `step`, the rows a killed session logged after it would be logged again.
  // (Their scalars stay in that session's TensorBoard file.)
  void drop_metrics_after(int64_t step);

  // Checkpoints: model tensors under their own names, other state (optimizer,
  // EMA) under prefixed names, training position in the metadata.
  void save_checkpoint(const NamedTensors& tensors, const Metadata& metadata, int64_t epoch, bool epoch_end) const;
  std::optional<SafetensorsContent> load_last_checkpoint() const;
  std::string last_checkpoint_path() const { return path_ + "/checkpoints/last.safetensors"; }

 private:
  std::string path_;
  bool writer_ = true;
  int lock_fd_ = -1;
  std::ofstream log_;
  std::vector<std::string> columns_;
  // Made on first use, so that a folder only opened (not trained into) gets
  // no event file; a new one each session, which TensorBoard reads as one run.
  std::unique_ptr<TensorBoardWriter> tensorboard_;

  TensorBoardWriter& tensorboard();
  void append_to_log(const std::string& line);
  void extend_metrics_header(const std::vector<std::string>& want);
};

// Tensors whose names start with `prefix`, with the prefix removed.
NamedTensors with_prefix_removed(const NamedTensors& all, const std::string& prefix);
// Tensors whose names do not start with any of the prefixes (the model's own).
NamedTensors without_prefixes(const NamedTensors& all, const std::vector<std::string>& prefixes);
NamedTensors with_prefix(const NamedTensors& tensors, const std::string& prefix);

}  // namespace ng::tools
