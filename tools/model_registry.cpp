#include "tools/model_registry.h"

#include "engine/error.h"
#include "tools/run_config.h"

namespace ng::tools {

const std::vector<ModelEntry>& registered_models() {
  static const std::vector<ModelEntry> models = {
      {"vae", add_train_vae, open_vae_run,
       {{"Training loss per step", "step", "step", "nats / image", {"loss", "recon", "kl"}},
        {"\u2212ELBO per epoch", "epoch", "epoch", "nats / image", {"train_loss", "test_loss"}}},
       false},
      {"gan", add_train_gan, open_gan_run,
       {{"Losses per step", "step", "step", "loss", {"d_loss", "g_loss"}},
        {"Discriminator outputs per step", "step", "step", "mean output", {"d_real", "d_fake"}}},
       false},
      {"ddpm", add_train_ddpm, open_ddpm_run,
       {{"L_simple per step", "step", "step", "MSE of \u03b5", {"loss"}, true},
        {"Test bound per epoch", "epoch", "epoch", "bits / dim", {"bpd"}}},
       true},
      // The feature classifier of the metrics: trained like the others, not sampled or evaluated.
      {"classifier", add_train_classifier, nullptr,
       {{"Training loss per step", "step", "step", "cross-entropy", {"loss"}},
        {"Test accuracy per epoch", "epoch", "epoch", "accuracy", {"test_accuracy"}}},
       false},
  };
  return models;
}

const ModelEntry* find_model(const std::string& name) {
  for (const ModelEntry& m : registered_models())
    if (m.name == name) return &m;
  return nullptr;
}

const ModelEntry& model_of_run(const std::string& run, const std::string& command) {
  const std::string name = read_run_config(run, command).at("model").get<std::string>();
  const ModelEntry* entry = find_model(name);
  if (!entry) {
    std::string known;
    for (const ModelEntry& m : registered_models()) known += (known.empty() ? "" : ", ") + m.name;
    throw Error(command + ": run '" + run + "' has model '" + name + "', which nanogen does not know (it knows " +
                known + ")");
  }
  return *entry;
}

}  // namespace ng::tools
