#include "tools/json_config.h"

#include <algorithm>
#include <fstream>
#include <memory>

#include "engine/error.h"
#include "tools/suggest.h"

namespace ng::tools {

using nlohmann::json;

namespace {

// The option a key names: "z_dim" and "z-dim" both name --z-dim.
std::string flag_name(std::string key) {
  std::replace(key.begin(), key.end(), '_', '-');
  return key;
}

// The options a file may set: every long flag but --config and --help.
std::vector<std::string> settable_names(const CLI::App& cmd) {
  std::vector<std::string> names;
  for (const CLI::Option* o : cmd.get_options())
    for (const std::string& l : o->get_lnames())
      if (l != "config" && l != "help") names.push_back(l);
  return names;
}

// A JSON value as a command line would spell it.
std::string command_line_value(const json& value, const std::string& where) {
  switch (value.type()) {
    case json::value_t::string: return value.get<std::string>();
    case json::value_t::boolean: return value.get<bool>() ? "true" : "false";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float: return value.dump();
    case json::value_t::array: {  // [1, 2, 2] for "1,2,2"
      std::string joined;
      for (const json& item : value) {
        NG_CHECK(item.is_primitive() && !item.is_null(), where, " is ", value.dump(),
                 ", expected a list of numbers or strings");
        joined += (joined.empty() ? "" : ",") + command_line_value(item, where);
      }
      return joined;
    }
    default: break;
  }
  throw Error(where + " is " + value.dump() + ", expected a number, a string, true/false or a list");
}

}  // namespace

std::vector<std::pair<std::string, std::string>> config_settings(const CLI::App& cmd, const json& config,
                                                                 const std::string& model, const std::string& path) {
  const std::string file = "--config " + path;
  NG_CHECK(config.is_object(), file, " holds ", config.type_name(), ", expected a JSON object of options");
  json options = json::object();
  if (const auto run_model = config.find("model"); run_model != config.end()) {
    // A run's config.json: its recipe, not its place.
    NG_CHECK(run_model->is_string() && *run_model == model, file, " is the config.json of a ", run_model->dump(),
             " run, expected a ", model, " run's or a file of options");
    for (const char* section : {"common", model.c_str()})
      if (const auto it = config.find(section); it != config.end() && it->is_object()) options.update(*it);
    options.erase("out");
    options.erase("resume");
  } else {
    // Top-level keys first, then "common", then the model's own section:
    // the more specific place wins when a key is in two.
    for (const auto& [key, value] : config.items())
      if (!((key == "common" || key == model) && value.is_object())) options[key] = value;
    for (const char* section : {"common", model.c_str()})
      if (const auto it = config.find(section); it != config.end() && it->is_object()) options.update(*it);
  }

  const std::vector<std::string> known = settable_names(cmd);
  std::vector<std::pair<std::string, std::string>> settings;
  for (const auto& [key, value] : options.items()) {
    const std::string name = flag_name(key);
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      const std::string guess = closest_name(name, known);
      throw Error(file + ": \"" + key + "\" is not an option of `train " + model + "`" +
                  (guess.empty() ? " (nanogen train " + model + " --help lists them)"
                                 : "; did you mean \"" + guess + "\"?"));
    }
    settings.emplace_back(name, command_line_value(value, file + ": \"" + key + "\""));
  }
  return settings;
}

void add_config_option(CLI::App* cmd, const std::string& model) {
  auto path = std::make_shared<std::string>();
  cmd->add_option("--config", *path,
                  "JSON file of options: a run's config.json or {\"epochs\": 5, ...} (the command line wins)");
  // CLI11 reads config files only for the top-level app, so the subcommand
  // applies its own once its command line is parsed.
  cmd->parse_complete_callback([cmd, model, path] {
    if (path->empty()) return;
    try {
      std::ifstream in(*path);
      NG_CHECK(in.good(), "--config ", *path, ": cannot read the file");
      json config;
      try {
        config = json::parse(in);
      } catch (const json::exception& e) {
        throw Error("--config " + *path + " is not valid JSON (" + e.what() + ")");
      }
      for (const auto& [name, value] : config_settings(*cmd, config, model, *path)) {
        CLI::Option* option = cmd->get_option("--" + name);
        if (option->count() > 0) continue;  // given on the command line
        option->add_result(option->get_expected_min() == 0 ? option->get_flag_value(name, value) : value);
        option->run_callback();
      }
    } catch (const CLI::ConversionError& e) {
      throw CLI::ConversionError("--config " + *path + ": " + e.what(), CLI::ExitCodes::ConversionError);
    } catch (const CLI::ValidationError& e) {
      throw CLI::ValidationError("--config " + *path + ": " + e.what(), CLI::ExitCodes::ValidationError);
    } catch (const std::exception& e) {
      throw CLI::ConfigError(e.what(), CLI::ExitCodes::ConfigError);
    }
  });
}

}  // namespace ng::tools
