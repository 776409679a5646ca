#include "tools/cli.h"

#include <omp.h>

#include <charconv>
#include <cstdio>

#include "engine/error.h"
#include "tools/cli_summary.h"
#include "tools/progress.h"

namespace ng::tools {

void add_common_flags(CLI::App* app, CommonOptions& o) {
  app->add_option("--data", o.data, "fashion-mnist | mnist:DIR | cifar10:DIR | folder:DIR")->capture_default_str();
  app->add_option("--device", o.device, "auto | cpu | cuda | cuda:N")->capture_default_str();
  app->add_option("--epochs", o.epochs, "epochs to train (in all, when resuming)")->capture_default_str();
  app->add_option("--max-steps", o.max_steps, "stop after this many optimizer steps in all (0: no limit)")
      ->capture_default_str();
  app->add_option("--time-limit", o.time_limit,
                  "stop (with a checkpoint) after this many seconds of training in this session (0: no limit)")
      ->capture_default_str();
  app->add_option("--batch-size", o.batch_size, "images per step")->capture_default_str();
  app->add_option("--lr", o.lr, "learning rate")->capture_default_str();
  app->add_option("--seed", o.seed, "seed of every random stream")->capture_default_str();
  app->add_option("--out", o.out, "run folder (default runs/<model>)");
  app->add_flag("--resume", o.resume, "continue the run in --out from its last checkpoint");
  app->add_option("--log-every", o.log_every, "steps between rows of metrics.csv")->capture_default_str();
  app->add_option("--limit", o.limit, "use only the first N training images (0: all)")->capture_default_str();
  app->add_option("--test-limit", o.test_limit, "use only the first N test images (0: all)")->capture_default_str();
  app->add_option("--threads", o.threads, "CPU threads (0: all cores)")->capture_default_str();
  app->add_option("--precision", o.precision,
                  "matmul and conv math on a GPU: auto (fp32 for now) | fp32 | tf32 | bf16 (tensor cores, sm_80+)")
      ->capture_default_str();
  app->add_flag("--sync-batch-norm", o.sync_batch_norm,
                "under mpirun: batch norm over the batches of all ranks, not each rank's own (docs/distributed.md)");
  app->add_option("--bucket-mb", o.bucket_mb,
                  "under mpirun: MiB of gradients per all-reduce, started while backward runs (0: one, after it)")
      ->capture_default_str();
}

void add_output_flags(CLI::App* cmd, bool& json) {
  // Set while parsing, so that it holds before the command's first line.
  cmd->add_flag_callback("--quiet,-q", [] { set_quiet(true); },
                         "no progress bars or status lines on stderr (warnings, errors and the summary stay)");
  cmd->add_flag("--json", json, "print the final summary on stdout as one JSON object");
}

std::string dump_json(const nlohmann::json& j) {
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
}

void print_summary(const nlohmann::json& summary, bool as_json,
                   const std::function<std::string(const nlohmann::json&)>& text) {
  const std::string out = as_json ? dump_json(summary) + "\n" : text(summary);
  std::fputs(out.c_str(), stdout);
  std::fflush(stdout);
}

nlohmann::json train_summary_json(const std::string& model, const RunSummary& s) {
  return {{"model", model},
          {"run", s.run},
          {"steps", s.steps},
          {"epochs", s.epochs_done},
          {"interrupted", s.interrupted},
          {"last_means", s.last_means}};
}

std::string train_summary_text(const nlohmann::json& summary) {
  return "run: " + summary.at("run").get<std::string>() + "\nsteps: " + std::to_string(summary.at("steps").get<int64_t>()) +
         "\nepochs: " + std::to_string(summary.at("epochs").get<int64_t>()) + "\n";
}

void apply_threads(const CommonOptions& o) {
  if (o.threads > 0) omp_set_num_threads(o.threads);
}

std::vector<int64_t> parse_int_list(const std::string& text, const std::string& what) {
  std::vector<int64_t> out;
  size_t begin = 0;
  while (true) {
    const size_t end = std::min(text.find(',', begin), text.size());
    size_t first = begin, last = end;
    while (first < last && text[first] == ' ') ++first;
    while (last > first && text[last - 1] == ' ') --last;
    int64_t value = 0;
    const auto [stop, error] = std::from_chars(text.data() + first, text.data() + last, value);
    NG_CHECK(first < last && error == std::errc() && stop == text.data() + last, what, ": '", text,
             "' is not a comma-separated list of integers");
    out.push_back(value);
    if (end == text.size()) return out;
    begin = end + 1;
  }
}

}  // namespace ng::tools
