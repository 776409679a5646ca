// A run's config.json read back: by `sample`, `eval`, a resumed training and
// the loaders of trained models. The file is the run's own record, but a
// person may edit it or bring it from elsewhere, so what is read from it is
// checked, and every failure is an ng::Error naming the run and the value.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "engine/error.h"

namespace ng::tools {

// The parsed config.json of the run folder `run`: a JSON object whose
// "model" is a string. `command` begins the messages ("eval", "sample").
nlohmann::json read_run_config(const std::string& run, const std::string& command);

// Checks `options` (config.json's object under `key`) against the JSON of
// the options' defaults: every key must be one the defaults have, holding a
// value of the same kind (a whole number where the default is one, a
// non-negative one where it is unsigned). Without this, a float where an
// integer belongs would be cast (1e300 to int64 is undefined behaviour).
void check_options_json(const nlohmann::json& options, const nlohmann::json& defaults, const std::string& where);

// config[key] as Options, its missing fields at their defaults.
template <class Options>
Options run_options(const nlohmann::json& config, const std::string& key, const std::string& run) {
  const std::string where = "run " + run + ": config.json's \"" + key + "\"";
  const auto it = config.find(key);
  NG_CHECK(it != config.end(), where, " options are missing");
  check_options_json(*it, nlohmann::json(Options{}), where);
  return it->template get<Options>();
}

}  // namespace ng::tools
