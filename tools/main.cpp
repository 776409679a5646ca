// nanogen: train, sample from and evaluate generative models.
//
//   nanogen train vae [--epochs N] [--device cpu] ...
//   nanogen sample runs/vae --n 64 --out samples.png
//
// Results go to stdout, progress and logs to stderr. Every error becomes one
// line on stderr and a non-zero exit status.
#include <omp.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>

#include "engine/error.h"
#include "engine/io/image.h"
#include "engine/nanogen.h"
#include "tools/train_vae.h"

using namespace ng;
using namespace ng::tools;

namespace {

// Flags every trainer takes. Defaults are the CommonOptions' defaults.
void add_common_flags(CLI::App* app, CommonOptions& o) {
  app->add_option("--data", o.data, "fashion-mnist | mnist:DIR | cifar10:DIR | folder:DIR")->capture_default_str();
  app->add_option("--device", o.device, "auto | cpu | cuda | cuda:N")->capture_default_str();
  app->add_option("--epochs", o.epochs, "epochs to train (in all, when resuming)")->capture_default_str();
  app->add_option("--max-steps", o.max_steps, "stop after this many optimizer steps (0: no limit)")
      ->capture_default_str();
  app->add_option("--batch-size", o.batch_size, "images per step")->capture_default_str();
  app->add_option("--lr", o.lr, "learning rate")->capture_default_str();
  app->add_option("--seed", o.seed, "seed of every random stream")->capture_default_str();
  app->add_option("--out", o.out, "run folder (default runs/<model>)");
  app->add_flag("--resume", o.resume, "continue the run in --out from its last checkpoint");
  app->add_option("--log-every", o.log_every, "steps between rows of metrics.csv")->capture_default_str();
  app->add_option("--limit", o.limit, "use only the first N training images (0: all)")->capture_default_str();
  app->add_option("--test-limit", o.test_limit, "use only the first N test images (0: all)")->capture_default_str();
  app->add_option("--threads", o.threads, "CPU threads (0: all cores)")->capture_default_str();
}

// --config FILE.json supplies defaults; flags on the command line win.
void apply_config_file(CLI::App* app) {
  app->set_config("--config", "", "JSON file of options (flags given on the command line override it)");
  app->config_formatter(std::make_shared<CLI::ConfigBase>());
}

void set_threads(int threads) {
  if (threads > 0) omp_set_num_threads(threads);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"nanogen: train, sample from and evaluate VAEs, GANs and DDPMs with our own tensor engine"};
  app.require_subcommand(1);

  // ---- train ----
  CLI::App* train = app.add_subcommand("train", "train a model; writes a run folder (runs/<model>)");
  train->require_subcommand(1);
  CommonOptions vae_common;
  VAEOptions vae;
  CLI::App* train_vae_cmd = train->add_subcommand("vae", "the VAE of DESIGN.md on images");
  add_common_flags(train_vae_cmd, vae_common);
  train_vae_cmd->add_option("--z-dim", vae.z_dim, "latent dimensions")->capture_default_str();
  train_vae_cmd->add_option("--likelihood", vae.likelihood, "bernoulli | gaussian | gaussian-learned")
      ->capture_default_str();
  train_vae_cmd->add_option("--sigma", vae.sigma, "the Gaussian decoder's (initial) standard deviation")
      ->capture_default_str();
  train_vae_cmd->add_option("--beta", vae.beta, "weight of the KL term")->capture_default_str();
  train_vae_cmd->add_option("--kl-warmup-steps", vae.kl_warmup_steps, "ramp beta up from 0 over this many steps")
      ->capture_default_str();
  apply_config_file(train_vae_cmd);

  // ---- sample ----
  CLI::App* sample = app.add_subcommand("sample", "draw samples from a run's last checkpoint into a PNG grid");
  std::string sample_run, sample_out = "samples.png", sample_device = "auto";
  int64_t sample_n = 64, sample_nrow = 8;
  uint64_t sample_seed = 0;
  sample->add_option("run", sample_run, "run folder, e.g. runs/vae")->required();
  sample->add_option("--n", sample_n, "number of samples")->capture_default_str();
  sample->add_option("--nrow", sample_nrow, "images per row of the grid")->capture_default_str();
  sample->add_option("--out", sample_out, "PNG file to write")->capture_default_str();
  sample->add_option("--seed", sample_seed, "seed of the prior noise")->capture_default_str();
  sample->add_option("--device", sample_device, "auto | cpu | cuda")->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  try {
    if (*train_vae_cmd) {
      set_threads(vae_common.threads);
      const TrainSummary s = train_vae(vae_common, vae);
      std::printf("run: %s\nsteps: %lld\nepochs: %lld\n", s.run.c_str(), (long long)s.steps,
                  (long long)s.epochs_done);
      if (s.test.images > 0)
        std::printf("test -ELBO: %.3f nats/image (recon %.3f, KL %.3f)\n", s.test.loss, s.test.recon, s.test.kl);
    } else if (*sample) {
      NG_CHECK(sample_n > 0, "sample: --n must be positive, got ", sample_n);
      const Device device = resolve_device(sample_device);
      auto model = load_vae_run(sample_run, device);
      Generator gen(sample_seed);
      NoGradGuard no_grad;
      const Tensor z = randn({sample_n, model->config().z_dim}, gen, TensorOptions{}.with_device(device));
      save_image_grid(sample_out, model->generate(z).to(Device::cpu()), sample_nrow);
      std::printf("%s\n", sample_out.c_str());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "nanogen: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
