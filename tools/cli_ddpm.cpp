// `nanogen train ddpm`.
#include <cstdio>
#include <memory>

#include "tools/cli.h"
#include "tools/json_config.h"
#include "tools/train_ddpm.h"

namespace ng::tools {

void add_train_ddpm(CLI::App* train, Commands& commands) {
  auto common = std::make_shared<CommonOptions>();
  common->lr = 2e-4;  // Ho et al.'s
  auto o = std::make_shared<DDPMOptions>();
  CLI::App* cmd = train->add_subcommand("ddpm", "the DDPM (U-Net noise predictor, L_simple, EMA; docs/ddpm.md)");
  add_common_flags(cmd, *common);
  cmd->add_option("--schedule", o->schedule, "beta schedule: linear | cosine")->capture_default_str();
  cmd->add_option("--timesteps", o->timesteps, "diffusion steps T")->capture_default_str();
  cmd->add_option("--sigma", o->sigma, "reverse-process variance: beta | posterior (beta-tilde)")
      ->capture_default_str();
  cmd->add_option("--base-channels", o->base_channels, "U-Net width of the top level")->capture_default_str();
  cmd->add_option("--channel-mults", o->channel_mults, "channel multiplier per level, e.g. 1,2,2")
      ->capture_default_str();
  cmd->add_option("--attention-res", o->attention_res, "resolutions with self-attention, e.g. 7 or 16,8 (none: none)")
      ->capture_default_str();
  cmd->add_option("--blocks", o->blocks, "residual blocks per level, each way")->capture_default_str();
  cmd->add_option("--groups", o->groups, "GroupNorm groups")->capture_default_str();
  cmd->add_option("--temb-dim", o->temb_dim, "time-embedding width (0: 4 x base channels)")->capture_default_str();
  cmd->add_option("--dropout", o->dropout, "dropout in the residual blocks")->capture_default_str();
  cmd->add_option("--ema-decay", o->ema_decay, "decay of the weights' moving average (warmed up)")
      ->capture_default_str();
  cmd->add_option("--grad-clip", o->grad_clip, "max gradient norm (0: off)")->capture_default_str();
  cmd->add_option("--warmup-steps", o->warmup_steps, "linear learning-rate warm-up")->capture_default_str();
  cmd->add_option("--sample-sampler", o->sample_sampler, "per-epoch samples: ddim | ancestral")->capture_default_str();
  cmd->add_option("--sample-steps", o->sample_steps,
                  "per-epoch sampling steps (0: 20 DDIM steps on a CPU, 100 on a GPU; all T for ancestral)")
      ->capture_default_str();
  cmd->add_option("--sample-eta", o->sample_eta, "DDIM eta of the per-epoch samples (0: deterministic)")
      ->capture_default_str();
  cmd->add_option("--bound-images", o->bound_images,
                  "test images for the per-epoch bits/dim bound (0: off; -1: 8 on a CPU, 256 on a GPU)")
      ->capture_default_str();
  cmd->add_option("--bound-timesteps", o->bound_timesteps,
                  "strata of timesteps of the bound's estimate (0: all T-1; -1: 20 on a CPU, 100 on a GPU)")
      ->capture_default_str();
  add_config_option(cmd, "ddpm");
  commands.emplace_back(cmd, [common, o] {
    apply_threads(*common);
    const DDPMSummary s = train_ddpm(*common, *o);
    std::printf("run: %s\nsteps: %lld\nepochs: %lld\n", s.run.c_str(), (long long)s.steps, (long long)s.epochs_done);
    if (s.epochs_done > 0) std::printf("last epoch mean L_simple: %.5f\n", s.last_epoch_loss);
    if (s.bound.images > 0)
      std::printf("test bound: %.4f bits/dim (L_T %.5f, sum L_t %.4f, L_0 %.4f; %lld images)\n", s.bound.total,
                  s.bound.prior, s.bound.diffusion, s.bound.decoder, (long long)s.bound.images);
  });
}

}  // namespace ng::tools
