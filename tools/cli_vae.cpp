// `nanogen train vae`.
#include <memory>

#include "tools/cli.h"
#include "tools/cli_summary.h"
#include "tools/json_config.h"
#include "tools/report_format.h"
#include "tools/report_run.h"
#include "tools/train_vae.h"

namespace ng::tools {

nlohmann::json vae_summary_json(const VAESummary& s) {
  nlohmann::json j = train_summary_json("vae", s);
  j["test"] = nullptr;
  if (s.test.images > 0)
    j["test"] = {{"neg_elbo", s.test.loss}, {"recon", s.test.recon}, {"kl", s.test.kl}, {"images", s.test.images}};
  return j;
}

std::string vae_summary_text(const nlohmann::json& j) {
  std::string text = train_summary_text(j);
  if (j.at("test").is_object())
    text += "test -ELBO: " + format_fixed(json_number(j, {"test", "neg_elbo"}), 3) + " nats/image (recon " +
            format_fixed(json_number(j, {"test", "recon"}), 3) + ", KL " +
            format_fixed(json_number(j, {"test", "kl"}), 3) + ")\n";
  return text;
}

void add_train_vae(CLI::App* train, Commands& commands) {
  auto common = std::make_shared<CommonOptions>();
  auto vae = std::make_shared<VAEOptions>();
  auto json = std::make_shared<bool>(false);
  CLI::App* cmd = train->add_subcommand("vae", "the VAE (Bernoulli or Gaussian decoder; models/vae.h)");
  add_common_flags(cmd, *common);
  add_output_flags(cmd, *json);
  cmd->add_option("--z-dim", vae->z_dim, "latent dimensions")->capture_default_str();
  cmd->add_option("--likelihood", vae->likelihood, "bernoulli | gaussian | gaussian-learned")->capture_default_str();
  cmd->add_option("--sigma", vae->sigma, "the Gaussian decoder's (initial) standard deviation")->capture_default_str();
  cmd->add_option("--beta", vae->beta, "weight of the KL term")->capture_default_str();
  cmd->add_option("--kl-warmup-steps", vae->kl_warmup_steps, "ramp beta up from 0 over this many steps")
      ->capture_default_str();
  cmd->add_flag("--conditional", vae->conditional,
                "condition on the data set's labels (a CVAE): `nanogen sample RUN --class NAME` then draws a class");
  add_config_option(cmd, "vae");
  commands.emplace_back(cmd, [common, vae, json] {
    apply_threads(*common);
    print_summary(vae_summary_json(train_vae(*common, *vae)), *json, vae_summary_text);
  });
}

}  // namespace ng::tools
