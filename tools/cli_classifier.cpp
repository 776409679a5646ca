// `nanogen train classifier`.
#include <memory>

#include "tools/cli.h"
#include "tools/cli_summary.h"
#include "tools/json_config.h"
#include "tools/report_format.h"
#include "tools/report_run.h"
#include "tools/train_classifier.h"

namespace ng::tools {

nlohmann::json classifier_summary_json(const ClassifierSummary& s) {
  nlohmann::json j = train_summary_json("classifier", s);
  j["test"] = nullptr;
  if (s.test.images > 0)
    j["test"] = {{"accuracy", s.test.accuracy}, {"loss", s.test.loss}, {"images", s.test.images}};
  j["classifier"] = s.classifier_file.empty() ? nlohmann::json(nullptr) : nlohmann::json(s.classifier_file);
  return j;
}

std::string classifier_summary_text(const nlohmann::json& j) {
  std::string text = train_summary_text(j);
  if (j.at("test").is_object())
    text += "test accuracy: " + format_fixed(json_number(j, {"test", "accuracy"}), 4) + " (" +
            format_fixed(json_number(j, {"test", "images"}), 0) + " images, loss " +
            format_fixed(json_number(j, {"test", "loss"}), 4) + ")\nclassifier: " + json_string(j, {"classifier"}) +
            "\n";
  return text;
}

void add_train_classifier(CLI::App* train, Commands& commands) {
  auto common = std::make_shared<CommonOptions>();
  common->epochs = 10;  // what the shipped Fashion-MNIST weights were trained for
  auto o = std::make_shared<ClassifierOptions>();
  auto json = std::make_shared<bool>(false);
  CLI::App* cmd = train->add_subcommand(
      "classifier", "the feature classifier of nanogen eval; writes RUN/classifier.safetensors (default runs/classifier)");
  add_common_flags(cmd, *common);
  add_output_flags(cmd, *json);
  cmd->add_option("--feature-dim", o->feature_dim, "width of the feature layer (the ReLU after the first Linear)")
      ->capture_default_str();
  cmd->add_option("--dropout", o->dropout, "dropout before the last Linear")->capture_default_str();
  cmd->add_option("--schedule", o->schedule, "learning rate: cosine (decays to 0) | constant")->capture_default_str();
  add_config_option(cmd, "classifier");
  commands.emplace_back(cmd, [common, o, json] {
    apply_threads(*common);
    print_summary(classifier_summary_json(train_classifier(*common, *o)), *json, classifier_summary_text);
  });
}

}  // namespace ng::tools
