#include "tools/classifier_file.h"

#include <cstdlib>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "engine/io/safetensors.h"
#include "tools/model_options.h"
#include "tools/run_config.h"
#include "tools/train_common.h"

namespace ng::tools {

namespace fs = std::filesystem;

namespace {

const char* kFormat = "nanogen-classifier";
const char* kFormatVersion = "1";

nlohmann::json config_json(const models::ClassifierConfig& c) {
  return {{"channels", c.channels}, {"height", c.height},   {"width", c.width},
          {"classes", c.classes},   {"feature_dim", c.feature_dim}, {"conv1", c.conv1},
          {"conv2", c.conv2},       {"dropout", c.dropout}};
}

// The architecture from the metadata: whole numbers where sizes belong (a
// float such as 1e300 would be cast), a dropout in [0, 1).
models::ClassifierConfig config_from_json(const nlohmann::json& j, const std::string& path) {
  auto whole = [&](const char* key) {
    const nlohmann::json& v = j.at(key);
    NG_CHECK(v.is_number_integer() && v.get<int64_t>() >= 1 && v.get<int64_t>() <= (int64_t(1) << 31),
             "load_classifier: ", path, ": its config's \"", key, "\" is ", v.dump(),
             ", expected a whole number from 1 to 2^31");
    return v.get<int64_t>();
  };
  models::ClassifierConfig c;
  c.channels = whole("channels");
  c.height = whole("height");
  c.width = whole("width");
  c.classes = whole("classes");
  c.feature_dim = whole("feature_dim");
  c.conv1 = whole("conv1");
  c.conv2 = whole("conv2");
  const nlohmann::json& dropout = j.at("dropout");
  NG_CHECK(dropout.is_number() && dropout.get<double>() >= 0 && dropout.get<double>() < 1,
           "load_classifier: ", path, ": its config's \"dropout\" is ", dropout.dump(), ", expected a number in [0, 1)");
  c.dropout = dropout.get<double>();
  return c;
}

// The metadata value of `key`, or an error saying what the file lacks.
const std::string& field(const Metadata& m, const std::string& key, const std::string& path) {
  auto it = m.find(key);
  NG_CHECK(it != m.end(), "load_classifier: ", path, " is not a nanogen classifier file (its metadata has no '", key,
           "'); make one with `nanogen train classifier`, which writes RUN/classifier.safetensors");
  return it->second;
}

}  // namespace

void export_classifier(const models::Classifier& model, const ClassifierInfo& info, const std::string& path) {
  NamedTensors weights;
  for (const auto& [name, t] : model.state_dict()) weights.emplace_back(name, t.detach().to(DType::f32));
  const Metadata metadata{{"format", kFormat},
                          {"format_version", kFormatVersion},
                          {"data", info.data},
                          {"config", config_json(model.config()).dump()},
                          {"class_names", nlohmann::json(info.class_names).dump()},
                          {"feature_dim", std::to_string(model.config().feature_dim)},
                          {"feature_layer", kFeatureLayer},
                          {"test_accuracy", nlohmann::json(info.test_accuracy).dump()},
                          {"test_images", std::to_string(info.test_images)},
                          {"command", info.command},
                          {"seed", std::to_string(info.seed)},
                          {"epochs", std::to_string(info.epochs)},
                          {"steps", std::to_string(info.steps)}};
  if (fs::path(path).has_parent_path()) fs::create_directories(fs::path(path).parent_path());
  save_safetensors(path, weights, metadata);
}

LoadedClassifier load_classifier(const std::string& path, Device device) {
  NG_CHECK(fs::is_regular_file(path), "load_classifier: no classifier file at '", path, "'");
  SafetensorsContent content;
  try {
    content = load_safetensors(path);
  } catch (const Error& e) {
    throw Error(std::string("load_classifier: cannot read the classifier file: ") + e.what());
  }
  const Metadata& m = content.metadata;
  NG_CHECK(field(m, "format", path) == kFormat, "load_classifier: ", path, " has format '", m.at("format"),
           "', expected '", kFormat, "'");
  NG_CHECK(field(m, "format_version", path) == kFormatVersion, "load_classifier: ", path, " has format version ",
           m.at("format_version"), "; this nanogen reads version ", kFormatVersion);

  LoadedClassifier out;
  out.path = path;
  ClassifierInfo& info = out.info;
  try {
    info.config = config_from_json(nlohmann::json::parse(field(m, "config", path)), path);
    info.class_names = nlohmann::json::parse(field(m, "class_names", path)).get<std::vector<std::string>>();
    info.test_accuracy = nlohmann::json::parse(field(m, "test_accuracy", path)).get<double>();
    info.test_images = std::stoll(field(m, "test_images", path));
    info.seed = std::stoull(field(m, "seed", path));
    info.epochs = std::stoll(field(m, "epochs", path));
    info.steps = std::stoll(field(m, "steps", path));
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error("load_classifier: " + path + " has malformed metadata: " + e.what());
  }
  info.data = field(m, "data", path);
  info.command = field(m, "command", path);

  // The model the metadata describes is built only when the file holds as
  // many weights as it has: a metadata of 2^31-wide layers is not allocated.
  int64_t held = 0;
  for (const auto& [name, t] : content.tensors) held += t.numel();
  const int64_t needed = models::Classifier::parameter_count(info.config);
  NG_CHECK(needed == held, "load_classifier(", path, "): its metadata describes a model of ",
           needed == INT64_MAX ? std::string("too many") : std::to_string(needed), " weights, but it holds ", held,
           ": the weights do not match the architecture in its metadata");
  out.model = std::make_unique<models::Classifier>(info.config);
  std::vector<TensorSpec> expected;
  for (const auto& [name, t] : out.model->state_dict()) expected.push_back({name, t.shape(), DType::f32});
  check_tensor_set(content.tensors, expected,
                   "load_classifier(" + path + "): the weights do not match the architecture in its metadata");
  out.model->load_state_dict(content.tensors);
  out.model->to(device);
  out.model->eval();
  return out;
}

std::string default_classifier_path(const std::string& data_spec) {
  const std::string name = data_spec.substr(0, data_spec.find(':'));
  NG_CHECK(name == "fashion-mnist", "no classifier ships for the data set '", data_spec,
           "'; train one with `nanogen train classifier --data ", data_spec,
           "` and pass --classifier RUN/classifier.safetensors (RUN is runs/classifier unless --out says otherwise)");
  const std::string file = "classifiers/fashion-mnist.safetensors";
  // An explicit NANOGEN_ASSETS_DIR is the only place looked at.
  if (const char* dir = std::getenv("NANOGEN_ASSETS_DIR"); dir != nullptr && *dir != '\0') {
    const std::string p = std::string(dir) + "/" + file;
    NG_CHECK(fs::is_regular_file(p), "the shipped Fashion-MNIST classifier is not at ", p,
             " (NANOGEN_ASSETS_DIR=", dir, "); point NANOGEN_ASSETS_DIR at the repository's assets folder");
    return p;
  }
  std::vector<std::string> candidates;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) candidates.push_back((exe.parent_path() / "../../assets" / file).lexically_normal().string());
#ifdef NANOGEN_SOURCE_DIR
  const std::string in_source = (fs::path(NANOGEN_SOURCE_DIR) / "assets" / file).lexically_normal().string();
  if (candidates.empty() || candidates[0] != in_source) candidates.push_back(in_source);
#endif
  std::string tried;
  for (const std::string& p : candidates) {
    if (fs::is_regular_file(p)) return p;
    tried += (tried.empty() ? "" : ", ") + p;
  }
  throw Error("the shipped Fashion-MNIST classifier was not found (looked at " + tried +
              "); set NANOGEN_ASSETS_DIR to the repository's assets folder or pass --classifier FILE");
}


namespace {

// The model a run's config.json describes.
models::ClassifierConfig model_config(const nlohmann::json& config) {
  const ImageShape image = run_image_shape(config, "classifier");
  const auto classes = config.find("classes");
  NG_CHECK(classes != config.end() && classes->is_number_integer(),
           "classifier run: config.json's \"classes\" is missing or not a whole number");
  return classifier_config(run_options<ClassifierOptions>(config, "classifier", "classifier run"), image.channels,
                           image.height, image.width, classes->get<int64_t>());
}

// What the classifier file of a run records about it.
}  // namespace

ClassifierInfo run_info(const nlohmann::json& config, const std::string& command, const models::ClassifierReport& test,
                        int64_t epochs, int64_t steps) {
  const CommonOptions common = run_options<CommonOptions>(config, "common", "classifier run");
  ClassifierInfo info;
  info.data = common.data;
  info.config = model_config(config);
  info.class_names = config.value("class_names", std::vector<std::string>{});
  info.test_accuracy = test.accuracy;
  info.test_images = test.images;
  info.command = command;
  info.seed = common.seed;
  info.epochs = epochs;
  info.steps = steps;
  return info;
}

void export_classifier(const std::string& path, const std::string& out) {
  const SavedRun saved = open_saved_run(path, "classifier");
  const Metadata& m = saved.checkpoint.metadata;
  NG_CHECK(m.count("test_accuracy") && m.count("test_images") && m.count("command"), "export_classifier: run ", path,
           " stopped in the middle of an epoch; resume it (--resume) to the end of an epoch first");
  models::Classifier model(model_config(saved.config));
  model.load_state_dict(without_prefixes(saved.checkpoint.tensors, {"optim."}));
  models::ClassifierReport test;
  test.accuracy = nlohmann::json::parse(m.at("test_accuracy")).get<double>();
  test.images = std::stoll(m.at("test_images"));
  // The checkpoint points at the next epoch.
  export_classifier(
      model, run_info(saved.config, m.at("command"), test, std::stoll(m.at("epoch")) - 1, std::stoll(m.at("global_step"))),
      out);
}

}  // namespace ng::tools
