// `nanogen train vae`.
#include <cstdio>
#include <memory>

#include "tools/cli.h"
#include "tools/json_config.h"
#include "tools/train_vae.h"

namespace ng::tools {

void add_train_vae(CLI::App* train, Commands& commands) {
  auto common = std::make_shared<CommonOptions>();
  auto vae = std::make_shared<VAEOptions>();
  CLI::App* cmd = train->add_subcommand("vae", "the VAE (Bernoulli or Gaussian decoder; models/vae.h)");
  add_common_flags(cmd, *common);
  cmd->add_option("--z-dim", vae->z_dim, "latent dimensions")->capture_default_str();
  cmd->add_option("--likelihood", vae->likelihood, "bernoulli | gaussian | gaussian-learned")->capture_default_str();
  cmd->add_option("--sigma", vae->sigma, "the Gaussian decoder's (initial) standard deviation")->capture_default_str();
  cmd->add_option("--beta", vae->beta, "weight of the KL term")->capture_default_str();
  cmd->add_option("--kl-warmup-steps", vae->kl_warmup_steps, "ramp beta up from 0 over this many steps")
      ->capture_default_str();
  add_config_option(cmd, "vae");
  commands.emplace_back(cmd, [common, vae] {
    apply_threads(*common);
    const VAESummary s = train_vae(*common, *vae);
    std::printf("run: %s\nsteps: %lld\nepochs: %lld\n", s.run.c_str(), (long long)s.steps, (long long)s.epochs_done);
    if (s.test.images > 0)
      std::printf("test -ELBO: %.3f nats/image (recon %.3f, KL %.3f)\n", s.test.loss, s.test.recon, s.test.kl);
  });
}

}  // namespace ng::tools
