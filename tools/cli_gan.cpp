// `nanogen train gan`.
#include <memory>

#include "tools/cli.h"
#include "tools/cli_summary.h"
#include "tools/json_config.h"
#include "tools/report_format.h"
#include "tools/report_run.h"
#include "tools/train_gan.h"

namespace ng::tools {

nlohmann::json gan_summary_json(const RunSummary& s) { return train_summary_json("gan", s); }

std::string gan_summary_text(const nlohmann::json& j) {
  std::string text = train_summary_text(j);
  if (!j.at("last_means").empty()) {
    auto mean = [&](const char* name) { return format_fixed(json_number(j, {"last_means", name}), 4); };
    text += "last epoch: D loss " + mean("d_loss") + ", G loss " + mean("g_loss") + ", D on real " + mean("d_real") +
            ", D on generated " + mean("d_fake") + "\n";
  }
  return text;
}

void add_train_gan(CLI::App* train, Commands& commands) {
  auto common = std::make_shared<CommonOptions>();
  common->epochs = 5;
  common->lr = 2e-4;  // DCGAN's Adam settings: lr 2e-4, betas (0.5, 0.999)
  auto gan = std::make_shared<GANOptions>();
  auto json = std::make_shared<bool>(false);
  CLI::App* cmd = train->add_subcommand("gan", "the DCGAN (minimax, nonsaturating, kl, wasserstein or "
                                               "hinge loss)");
  add_common_flags(cmd, *common);
  add_output_flags(cmd, *json);
  cmd->add_option("--loss", gan->loss, "minimax | nonsaturating | kl | wasserstein | hinge")->capture_default_str();
  cmd->add_option("--n-critic", gan->n_critic, "discriminator steps per generator step (0: 5 for wasserstein, else 1)")
      ->capture_default_str();
  cmd->add_option("--gp", gan->gp, "gradient penalty weight lambda (WGAN-GP uses 10; 0: none)")->capture_default_str();
  cmd->add_option("--clip", gan->clip, "clip D's weights to [-C, C] after each step (default: 0.01 for wasserstein "
                                       "without --gp, else none)");
  cmd->add_option("--z-dim", gan->z_dim, "noise dimensions")->capture_default_str();
  cmd->add_option("--g-width", gan->g_width, "generator width (channels of its last hidden layer)")
      ->capture_default_str();
  cmd->add_option("--d-width", gan->d_width, "discriminator width (channels of its first layer)")
      ->capture_default_str();
  cmd->add_option("--d-norm", gan->d_norm, "discriminator norm: batch | layer | none (auto: none with --gp, else "
                                           "batch)")
      ->capture_default_str();
  cmd->add_option("--beta1", gan->beta1, "Adam's beta1 for both players")->capture_default_str();
  cmd->add_option("--beta2", gan->beta2, "Adam's beta2 for both players")->capture_default_str();
  cmd->add_flag("--conditional", gan->conditional,
                "condition on the data set's labels (G(z, y) and a projection discriminator)");
  add_config_option(cmd, "gan");
  commands.emplace_back(cmd, [common, gan, json] {
    apply_threads(*common);
    print_summary(gan_summary_json(train_gan(*common, *gan)), *json, gan_summary_text);
  });
}

}  // namespace ng::tools
