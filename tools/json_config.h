// `nanogen train <model> --config FILE.json`: a file of options, for runs
// that are easier to keep in a file than on one line. The command line wins
// over the file, the file over the defaults.
//
// Two shapes are read:
// - a file written by hand: one JSON object whose keys are the options,
//   spelled as the flags are (with dashes) or as config.json spells them
//   (with underscores), optionally grouped under "common" and the model's
//   name: {"epochs": 5, "vae": {"z_dim": 32}} (a key in two places takes
//   the most specific: the model's section, then "common", then the top);
// - a run's own config.json, which names its "model": that run's options,
//   except where it lives ("out") and how it was started ("resume"), so the
//   same recipe trains a new run.
// An unreadable file, a key that is no option of the command, or a value the
// option cannot take is an error naming the file and the key.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

namespace ng::tools {

// Adds --config FILE to `cmd`, the `train <model>` subcommand: once the
// command line is parsed, the file fills in every option it left out.
void add_config_option(CLI::App* cmd, const std::string& model);

// The (option, value) pairs `config` sets, the options named as their long
// flags without the dashes ("z-dim") and the values as a command line would
// spell them ("32"; a list becomes "1,2,2"). Checks every key against `cmd`'s
// options; `path` is the file, for the messages.
std::vector<std::pair<std::string, std::string>> config_settings(const CLI::App& cmd, const nlohmann::json& config,
                                                                 const std::string& model, const std::string& path);

}  // namespace ng::tools
