#include "tools/trainer.h"

#include <charconv>
#include <cmath>
#include <filesystem>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/dist/gradient_buckets.h"
#include "engine/error.h"
#include "engine/nn/layers.h"
#include "engine/nn/module.h"
#include "engine/ops/elementwise.h"
#include "engine/precision.h"
#include "tools/epoch_strip.h"
#include "tools/interrupt.h"
#include "tools/progress.h"
#include "tools/run_charts.h"
#include "tools/run_config.h"

namespace ng::tools {

Metrics StepMetrics::read() const {
  Metrics all = host;
  for (const auto& [name, value] : device) all[name] = value.item();
  return all;
}

namespace {

// Where a run stands: written into every checkpoint's metadata with the
// state of its training-noise stream, and read back on --resume.
struct Position {
  int64_t epoch = 1;          // the epoch being (or next to be) trained, 1-based
  int64_t step_in_epoch = 0;  // steps of it already taken
  int64_t global_step = 0;    // steps in all
};

// An epoch-end checkpoint points at the start of the next epoch.
Metadata position_metadata(const std::string& model, const Position& p, bool epoch_end, const Generator& noise,
                           const nlohmann::json& config) {
  return {{"model", model},
          {"epoch", std::to_string(epoch_end ? p.epoch + 1 : p.epoch)},
          {"step_in_epoch", std::to_string(epoch_end ? 0 : p.step_in_epoch)},
          {"global_step", std::to_string(p.global_step)},
          {"noise_seed", std::to_string(noise.seed())},
          {"noise_offset", std::to_string(noise.offset())},
          {"config", config.dump()}};
}

// A metadata field as a whole number in [lo, hi], or an error naming it.
template <class Int>
Int metadata_integer(const Metadata& m, const char* key, Int lo, Int hi) {
  auto it = m.find(key);
  NG_CHECK(it != m.end(), "resume: the checkpoint's metadata has no '", key, "'");
  const std::string& text = it->second;
  Int value{};
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  NG_CHECK(error == std::errc() && end == text.data() + text.size() && value >= lo && value <= hi,
           "resume: the checkpoint's metadata '", key, "' is '", text, "'; expected a whole number from ", lo, " to ",
           hi, " (is the checkpoint damaged?)");
  return value;
}

Position restore_position(const Metadata& m, Generator& noise) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  Position p;
  p.epoch = metadata_integer<int64_t>(m, "epoch", 1, kMax);
  p.step_in_epoch = metadata_integer<int64_t>(m, "step_in_epoch", 0, kMax);
  p.global_step = metadata_integer<int64_t>(m, "global_step", 0, kMax);
  NG_CHECK(p.step_in_epoch <= p.global_step, "resume: the checkpoint's metadata puts step ", p.step_in_epoch,
           " of its epoch after step ", p.global_step, " in all (is the checkpoint damaged?)");
  noise.set_state(metadata_integer<uint64_t>(m, "noise_seed", 0, ~uint64_t(0)),
                  metadata_integer<uint64_t>(m, "noise_offset", 0, ~uint64_t(0)));
  return p;
}

// Running sums of the metrics an epoch averages: on the host for the numbers
// the host knows, in float64 on the device for the others (read once, at the
// end of the epoch or of the session). A sum is finite only if every step's
// value was, so checking the sums catches a non-finite step that no metrics
// row or progress line happened to read.
struct EpochMeans {
  std::vector<std::string> names;
  Metrics sums;
  std::map<std::string, Tensor> device_sums;
  int64_t steps = 0;

  void add(const StepMetrics& step) {
    for (const std::string& name : names) {
      NG_CHECK(step.has(name), "trainer: a step did not report '", name, "'");
      if (auto it = step.host.find(name); it != step.host.end()) {
        sums[name] += it->second;
        continue;
      }
      const Tensor v = step.device.at(name).detach().to(DType::f64);
      Tensor& sum = device_sums[name];
      sum = sum.defined() ? sum + v : v;
    }
    ++steps;
  }
  // Reads the device sums; a non-finite one stops the run, naming the steps
  // whose values it holds.
  Metrics means(const std::string& model, int64_t first_step, int64_t last_step) const {
    Metrics m;
    for (const std::string& name : names) {
      auto it = device_sums.find(name);
      const double sum = it != device_sums.end() ? it->second.item() : (sums.count(name) ? sums.at(name) : 0.0);
      NG_CHECK(std::isfinite(sum), model, ": ", name, " was not finite at some step from ", first_step, " to ",
               last_step, kDivergedAdvice);
      m[name] = steps ? sum / double(steps) : 0.0;
    }
    return m;
  }
};

NamedTensors checkpoint_tensors(const CheckpointParts& parts) {
  NamedTensors all = parts.model->state_dict();
  for (const auto& [prefix, opt] : parts.optimizers)
    for (auto& t : with_prefix(opt->state(), "optim." + prefix)) all.push_back(t);
  if (parts.ema)
    for (auto& t : parts.ema->state()) all.push_back(t);  // named "ema.*" already
  return all;
}

void load_checkpoint_tensors(const CheckpointParts& parts, const NamedTensors& checkpoint) {
  parts.model->load_state_dict(without_prefixes(checkpoint, {"optim.", "ema."}));
  for (const auto& [prefix, opt] : parts.optimizers)
    opt->load_state(with_prefix_removed(checkpoint, "optim." + prefix));
  if (parts.ema) parts.ema->load_state(with_prefix(with_prefix_removed(checkpoint, "ema."), "ema."));
}

// The run folder, once the options are known to mean something (no folder
// is made or locked for a run that would be refused).
RunFolder checked_run_folder(const std::string& model, const CommonOptions& o, const dist::Communicator& ranks) {
  check_common_options(o);
  NG_CHECK(o.batch_size % ranks.world_size() == 0, "--batch-size ", o.batch_size, " does not split evenly over ",
           ranks.world_size(), " ranks: the global batch must be a multiple of the number of ranks");
  const std::string path = o.out.empty() ? "runs/" + model : o.out;
  NG_CHECK(!o.resume || std::filesystem::exists(path + "/config.json"), "--resume: there is no run at ", path,
           " to resume (it has no config.json); train without --resume to start one, or name the run with --out");
  return RunFolder(path, o.resume, ranks.is_root());
}

// A data-parallel rank's device: on a GPU machine, a machine's rank i takes its GPU i.
Device device_of_rank(Device d, const dist::Communicator& ranks) {
  if (!d.is_cuda() || ranks.world_size() == 1) return d;
  const int local = ranks.local_rank(), visible = cuda_device_count();
  NG_CHECK(local < visible, "rank ", ranks.rank(), " is rank ", local, " of its machine and takes GPU ", local,
           ", but ", visible, " GPU(s) are visible: start at most one rank per GPU");
  return Device::cuda(local);
}

// While it lives, a rank's draws from `noise` are its shard of the draws of
// the whole global batch (Generator::set_shard): a data-parallel step then
// uses the very noise a single process would, and an N-rank run follows
// the one-process run up to the rounding of the gradients' sum.
class ShardedDraws {
 public:
  ShardedDraws(Generator& noise, const dist::Communicator& ranks) : noise_(noise) {
    noise_.set_shard(uint64_t(ranks.rank()), uint64_t(ranks.world_size()));
  }
  ~ShardedDraws() { noise_.set_shard(0, 1); }
  ShardedDraws(const ShardedDraws&) = delete;
  ShardedDraws& operator=(const ShardedDraws&) = delete;

 private:
  Generator& noise_;
};

}  // namespace

TensorOptions TrainingJob::on_device() const { return TensorOptions{}.with_device(trainer_.device()); }

Trainer::Trainer(std::string model, CommonOptions common)
    : ranks_(dist::world()),
      model_(std::move(model)),
      common_(std::move(common)),
      device_(device_of_rank(resolve_device(common_.device, common_.precision), ranks_)),
      run_(checked_run_folder(model_, common_, ranks_)), noise_(0) {
  if (!ranks_.is_root()) set_quiet(true);  // rank 0 prints for all
  if (common_.out.empty()) common_.out = run_.path();
  if (common_.resume && std::filesystem::exists(run_.file("config.json"))) {
    config_ = run_.read_config();
    check_run_model(config_, run_.path(), model_);
    // The run's options, but this session's device, precision, length and threads.
    const CommonOptions session = common_;
    common_ = run_options<CommonOptions>(config_, "common", run_.path());
    common_.device = session.device;
    common_.epochs = session.epochs;
    common_.max_steps = session.max_steps;
    common_.time_limit = session.time_limit;
    common_.threads = session.threads;
    common_.precision = session.precision;
    common_.resume = true;
    resumed_ = true;
    // Say so where this session asked for something else: --resume --lr X
    // must not look as if it had changed the learning rate.
    std::vector<std::string> kept;
    auto compare = [&](const char* flag, const auto& given, const auto& run) {
      if (given == run) return;
      std::ostringstream text;
      text << flag << " " << given << " (the run keeps " << run << ")";
      kept.push_back(text.str());
    };
    compare("--data", session.data, common_.data);
    compare("--batch-size", session.batch_size, common_.batch_size);
    compare("--lr", session.lr, common_.lr);
    compare("--seed", session.seed, common_.seed);
    compare("--log-every", session.log_every, common_.log_every);
    compare("--limit", session.limit, common_.limit);
    compare("--test-limit", session.test_limit, common_.test_limit);
    if (!kept.empty()) {
      std::string line = "--resume: a run keeps the options it started with; not applied:";
      for (size_t i = 0; i < kept.size(); ++i) line += (i ? ", " : " ") + kept[i];
      run_.warn(line);
    }
    // The run's length is this session's to change: config.json records the
    // current target, so that `nanogen runs` judges "finished" against it.
    config_["common"]["epochs"] = common_.epochs;
    config_["common"]["max_steps"] = common_.max_steps;
    config_["common"]["time_limit"] = common_.time_limit;
    run_.write_config(config_);
  }
  noise_ = Generator(Streams::noise(common_.seed));
}

void Trainer::backward(const Tensor& loss, const std::vector<Tensor>& params) const {
  if (ranks_.world_size() == 1) return loss.backward();
  dist::GradientBuckets(ranks_, params, int64_t(common_.bucket_mb * (1 << 20))).backward(loss);
}

Batch Trainer::shard(Batch global) const {
  const int64_t n = ranks_.world_size();
  if (n == 1) return global;
  const int64_t rows = global.images.size(0) / n, first = rows * ranks_.rank();
  Batch mine;
  mine.images = global.images.narrow(0, first, rows).contiguous();
  mine.labels.assign(global.labels.begin() + first, global.labels.begin() + first + rows);
  mine.indices.assign(global.indices.begin() + first, global.indices.begin() + first + rows);
  mine.index = global.index;
  return mine;
}

Metrics Trainer::mean_over_ranks(Metrics local) const {
  const int n = ranks_.world_size();
  if (n == 1) return local;
  std::vector<double> values;  // in the map's key order, the same on every rank
  for (const auto& [name, value] : local) values.push_back(value);
  const Tensor sums = from_vector(values, {int64_t(values.size())});
  ranks_.all_reduce_sum({sums});
  const std::vector<double> summed = sums.to_vector<double>();
  size_t i = 0;
  for (auto& [name, value] : local) value = summed[i++] / double(n);
  return local;
}

bool Trainer::any_rank(bool local) const {
  if (ranks_.world_size() == 1) return local;
  const Tensor votes = full({1}, local ? 1.0 : 0.0, TensorOptions{}.with_dtype(DType::f64));
  ranks_.all_reduce_sum({votes});
  return votes.item() > 0;
}

void Trainer::draw_curves_and_strip(int64_t image_height) {
  if (!ranks_.is_root()) return;  // drawn from the files rank 0 writes
  try {
    save_run_charts(run_.path(), model_);
    save_epoch_strip(run_.path(), "epoch", image_height);
    save_epoch_animation(run_.path(), "epoch");
  } catch (const std::exception& e) {
    run_.warn(std::string("the loss curves, the epoch strip or its animation could not be drawn: ") + e.what());
  }
}

Dataset Trainer::dataset(const std::string& split) const {
  Dataset d = load_dataset_limited(common_.data, split, split == "train" ? common_.limit : common_.test_limit);
  NG_CHECK(d.size() > 0, model_, ": the ", split, " split of ", common_.data, " (", d.name,
           ") has no images; training needs both splits");
  return d;
}

int64_t Trainer::steps_per_epoch(const Dataset& train, int64_t batches_per_step) const {
  return train.size() / common_.batch_size / batches_per_step;
}

RunSummary Trainer::train(TrainingJob& job, const Dataset& train, const nlohmann::json& sections,
                          const std::string& what) {
  // From here on Ctrl-C asks for a checkpoint (before the first line that
  // says the run has started, so that whoever reads that line may rely on it).
  install_interrupt_handler();
  Position at;
  auto ckpt = run_.load_last_checkpoint();
  NG_CHECK(ckpt || !resumed_, "--resume: run ", run_.path(), " has no checkpoint to resume from (its first session ",
           "stopped before saving one); train without --resume to start it over");
  if (ckpt) {
    check_finite_tensors(ckpt->tensors, run_.last_checkpoint_path());
    load_checkpoint_tensors(job.parts(), ckpt->tensors);
    at = restore_position(ckpt->metadata, noise_);
    // Rows a killed session logged after its last checkpoint: the steps they
    // describe are trained again now.
    run_.drop_metrics_after(at.global_step);
    run_.log("resuming " + run_.path() + " at epoch " + std::to_string(at.epoch) + ", step " +
             std::to_string(at.global_step));
  } else {
    config_ = {{"model", model_},
               {"common", common_},
               {"image", {train.channels(), train.height(), train.width()}},
               {"classes", classes_json(train)}};
    config_.update(sections);
    run_.write_config(config_);
    run_.log("training " + what + " on " + train.name + " (" + std::to_string(train.size()) + " images) on " +
             device_.str() + " (" + to_string(matmul_precision()) + ")" +
             (ranks_.world_size() > 1 ? " on each of " + std::to_string(ranks_.world_size()) + " ranks (" +
                                            ranks_.backend() +
                                            (common_.sync_batch_norm ? ", batch norm over all ranks)" : ")")
                                      : ""));
  }
  nn::set_batch_norm_ranks(common_.sync_batch_norm ? &ranks_ : nullptr);
  // Every rank starts from rank 0's weights (they agree already: one seed,
  // one checkpoint; this makes it so whatever happened).
  ranks_.broadcast(nn::tensors_of(job.parts().model->state_dict()));
  std::vector<std::string> columns = {"epoch", "step"};
  for (const std::string& c : job.columns()) columns.push_back(c);
  run_.declare_metrics(columns);

  auto checkpoint = [&](bool epoch_end) {
    Metadata m = position_metadata(model_, at, epoch_end, noise_, config_);
    job.annotate(m, epoch_end);
    run_.save_checkpoint(checkpoint_tensors(job.parts()), m, at.epoch, epoch_end);
  };

  const int64_t per_step = job.batches_per_step();
  const int64_t steps_per_epoch = this->steps_per_epoch(train, per_step);
  NG_CHECK(steps_per_epoch > 0, model_, ": ", train.size(), " training images make fewer than ", per_step,
           " batch(es) of ", common_.batch_size, " (one step)");
  DataLoader loader(train, LoaderOptions{.batch_size = common_.batch_size, .seed = common_.seed, .drop_last = true});
  RunSummary summary;
  summary.run = run_.path();
  const StopRule stop(common_);
  if (stop.reached(at.global_step)) {  // a resumed run already at its --max-steps
    run_.log("run " + run_.path() + " is at step " + std::to_string(at.global_step) + " and " +
             stop.reason(at.global_step) + ": nothing to train");
    summary.steps = at.global_step;
    return summary;
  }

  for (; at.epoch <= common_.epochs; ++at.epoch) {
    // The order of an epoch is a function of seed and epoch alone, so a
    // resumed run skips the batches it has trained on.
    loader.start_epoch(at.epoch);
    for (int64_t i = 0; i < at.step_in_epoch * per_step; ++i)
      NG_CHECK(loader.next().has_value(), "resume: the epoch has fewer than ", at.step_in_epoch, " steps");
    reset_peak_memory(device_);
    Progress progress("epoch " + std::to_string(at.epoch) + "/" + std::to_string(common_.epochs), steps_per_epoch,
                      std::max<int64_t>(1, steps_per_epoch / 20));
    EpochMeans epoch{job.averaged(), {}, {}, 0};
    const int64_t first_step = at.global_step + 1;
    // A step's metrics as numbers, those the epoch averages checked.
    auto read = [&](const StepMetrics& m) {
      const Metrics values = m.read();
      for (const std::string& name : epoch.names) check_finite(values.at(name), model_ + ": " + name, at.global_step);
      return values;
    };
    job.parts().model->train();
    while (at.step_in_epoch < steps_per_epoch) {
      std::vector<Batch> batches;
      for (int64_t k = 0; k < per_step; ++k) {
        std::optional<Batch> batch = loader.next();
        NG_CHECK(batch.has_value(), model_, ": the epoch ran out of batches at step ", at.step_in_epoch + 1);
        batches.push_back(shard(std::move(*batch)));
      }
      const bool log_now = (at.global_step + 1) % common_.log_every == 0;
      const StepMetrics m = [&] {
        ShardedDraws shard_of_the_batch(noise_, ranks_);
        return job.step(batches, at.global_step, log_now);
      }();
      ++at.step_in_epoch;
      ++at.global_step;
      epoch.add(m);
      if (log_now) {
        Metrics row = mean_over_ranks(read(m));
        row.insert({{"epoch", double(at.epoch)}, {"step", double(at.global_step)}, {"it_per_s", progress.rate()}});
        run_.metrics(row, "step");
      }
      progress.update(at.step_in_epoch, [&] { return job.status(read(m)); });
      const bool interrupted = any_rank(interrupt_requested());
      if (interrupted || any_rank(stop.reached(at.global_step) && at.step_in_epoch < steps_per_epoch)) {
        summary.last_means = mean_over_ranks(epoch.means(model_, first_step, at.global_step));
        checkpoint(false);
        progress.finish(job.status(summary.last_means));
        summary.steps = at.global_step;
        summary.interrupted = interrupted;
        // The partial epoch's training time and peak memory, which no "epoch"
        // row will report (a --time-limit run may end inside its first epoch).
        run_.metrics({{"epoch", double(at.epoch)},
                      {"step", double(at.global_step)},
                      {"time_s", progress.elapsed_seconds()},
                      {"peak_memory_mb", peak_memory_mb(device_)}},
                     "stop");
        run_.log(std::string(summary.interrupted ? "interrupted" : stop.reason(at.global_step)) + " at step " +
                 std::to_string(at.global_step) + "; checkpoint saved, continue with --resume");
        // Last, after everything a resume and the run's costs need: a second
        // Ctrl-C while drawing them loses only the pictures.
        job.save_samples(at.epoch, at.global_step);
        draw_curves_and_strip(train.height());
        clear_interrupt();
        return summary;
      }
    }
    // The time of the training steps alone: the evaluation is not training.
    const double train_seconds = progress.elapsed_seconds();
    summary.last_means = mean_over_ranks(epoch.means(model_, first_step, at.global_step));
    progress.finish("mean " + job.status(summary.last_means));

    Metrics row = summary.last_means;
    row.insert({{"epoch", double(at.epoch)}, {"step", double(at.global_step)}});
    const std::string line = job.end_epoch(at.epoch, summary.last_means, row);
    row["time_s"] = train_seconds;
    row["peak_memory_mb"] = peak_memory_mb(device_);  // training and the evaluation
    run_.metrics(row, "epoch");
    run_.log("epoch " + std::to_string(at.epoch) + ": " + line);
    at.step_in_epoch = 0;
    checkpoint(true);
    job.after_epoch_checkpoint(at.epoch, at.global_step);
    draw_curves_and_strip(train.height());
    summary.epochs_done = at.epoch;
    if (any_rank(stop.reached(at.global_step))) break;
  }
  summary.steps = at.global_step;
  return summary;
}

}  // namespace ng::tools
