// Pieces of the nanogen command line shared by the subcommands. Each model's
// `train <model>` subcommand is defined next to its trainer (cli_vae.cpp, ...)
// and registered in main.cpp with one line.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tools/train_common.h"

namespace ng::tools {

// A subcommand and what to run when it was chosen.
using Commands = std::vector<std::pair<CLI::App*, std::function<void()>>>;

// --data, --device, --epochs, --max-steps, --batch-size, --lr, --seed, --out,
// --resume, --log-every, --limit, --test-limit, --threads.
void add_common_flags(CLI::App* app, CommonOptions& o);
// Applies --threads.
void apply_threads(const CommonOptions& o);
// "1,2,2" -> {1,2,2} (spaces around items allowed); throws naming the flag
// `what` when an item is not an integer.
std::vector<int64_t> parse_int_list(const std::string& text, const std::string& what);

// --quiet (no progress bars or status lines on stderr: the process-wide
// switch of tools/progress.h; warnings and errors still show) and --json
// (the final summary on stdout as one JSON object instead of text lines).
void add_output_flags(CLI::App* cmd, bool& json);
// A command's summary, built once as JSON, printed as that JSON (--json) or
// as the text `text` renders from it: one source for both forms.
void print_summary(const nlohmann::json& summary, bool as_json,
                   const std::function<std::string(const nlohmann::json&)>& text);
// JSON text safe for any string in it (a folder name that is not UTF-8 is
// printed with replacement characters instead of throwing).
std::string dump_json(const nlohmann::json& j);

void add_train_vae(CLI::App* train, Commands& commands);
void add_train_gan(CLI::App* train, Commands& commands);
void add_train_ddpm(CLI::App* train, Commands& commands);
void add_train_classifier(CLI::App* train, Commands& commands);
// `nanogen eval RUN`.
void add_eval(CLI::App& app, Commands& commands);
// `nanogen sample RUN`.
void add_sample(CLI::App& app, Commands& commands);
// `nanogen runs [DIR]` and `nanogen show RUN`.
void add_runs(CLI::App& app, Commands& commands);
// `nanogen plot SOURCE... --y COLUMN --out FILE.png`.
void add_plot(CLI::App& app, Commands& commands);

}  // namespace ng::tools
