// `nanogen train classifier`.
#include <cstdio>
#include <memory>

#include "tools/cli.h"
#include "tools/json_config.h"
#include "tools/train_classifier.h"

namespace ng::tools {

void add_train_classifier(CLI::App* train, Commands& commands) {
  auto common = std::make_shared<CommonOptions>();
  common->epochs = 10;  // what the shipped Fashion-MNIST weights were trained for
  auto o = std::make_shared<ClassifierOptions>();
  CLI::App* cmd = train->add_subcommand(
      "classifier", "the feature classifier of nanogen eval; writes RUN/classifier.safetensors (default runs/classifier)");
  add_common_flags(cmd, *common);
  cmd->add_option("--feature-dim", o->feature_dim, "width of the feature layer (the ReLU after the first Linear)")
      ->capture_default_str();
  cmd->add_option("--dropout", o->dropout, "dropout before the last Linear")->capture_default_str();
  cmd->add_option("--schedule", o->schedule, "learning rate: cosine (decays to 0) | constant")->capture_default_str();
  add_config_option(cmd, "classifier");
  commands.emplace_back(cmd, [common, o] {
    apply_threads(*common);
    const ClassifierSummary s = train_classifier(*common, *o);
    std::printf("run: %s\nsteps: %lld\nepochs: %lld\n", s.run.c_str(), (long long)s.steps, (long long)s.epochs_done);
    if (s.test.images > 0)
      std::printf("test accuracy: %.4f (%lld images, loss %.4f)\nclassifier: %s\n", s.test.accuracy,
                  (long long)s.test.images, s.test.loss, s.classifier_file.c_str());
  });
}

}  // namespace ng::tools
