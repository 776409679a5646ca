#include "tools/run_config.h"

#include <cstdint>
#include <fstream>

namespace ng::tools {

using nlohmann::json;

json read_run_config(const std::string& run, const std::string& command) {
  std::ifstream in(run + "/config.json");
  NG_CHECK(in.good(), command, ": '", run, "' is not a run folder (it has no config.json)");
  json config;
  try {
    config = json::parse(in);
  } catch (const json::exception& e) {
    throw Error(command + ": " + run + "/config.json is not valid JSON (" + e.what() + ")");
  }
  NG_CHECK(config.is_object(), command, ": ", run, "/config.json holds ", config.type_name(),
           ", expected a JSON object of the run's options");
  const auto model = config.find("model");
  NG_CHECK(model != config.end() && model->is_string(), command, ": ", run,
           "/config.json has no \"model\" name (a string such as \"vae\")");
  return config;
}

namespace {

// What a value of the default's kind looks like, for the message.
const char* kind_name(const json& value) {
  switch (value.type()) {
    case json::value_t::number_unsigned: return "a non-negative whole number";
    case json::value_t::number_integer: return "a whole number";
    case json::value_t::number_float: return "a number";
    case json::value_t::string: return "a string";
    case json::value_t::boolean: return "true or false";
    default: return value.type_name();
  }
}

bool same_kind(const json& value, const json& default_value) {
  switch (default_value.type()) {
    case json::value_t::number_unsigned: return value.is_number_unsigned();
    // The parser reads a positive whole number as unsigned: it fits when <= INT64_MAX.
    case json::value_t::number_integer:
      return value.is_number_integer() && (!value.is_number_unsigned() || value.get<uint64_t>() <= uint64_t(INT64_MAX));
    case json::value_t::number_float: return value.is_number();
    default: return value.type() == default_value.type();
  }
}

}  // namespace

void check_options_json(const json& options, const json& defaults, const std::string& where) {
  NG_CHECK(options.is_object(), where, " holds ", options.type_name(), ", expected an object of options");
  for (const auto& [key, value] : options.items()) {
    const auto d = defaults.find(key);
    NG_CHECK(d != defaults.end(), where, " has an unknown option \"", key, "\"");
    NG_CHECK(same_kind(value, *d), where, "'s \"", key, "\" is ", value.dump(), ", expected ", kind_name(*d));
  }
}

}  // namespace ng::tools
