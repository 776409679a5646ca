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

void add_train_vae(CLI::App* train, Commands& commands);
void add_train_gan(CLI::App* train, Commands& commands);
void add_train_ddpm(CLI::App* train, Commands& commands);
void add_train_classifier(CLI::App* train, Commands& commands);
// `nanogen eval RUN`.
void add_eval(CLI::App& app, Commands& commands);

}  // namespace ng::tools
