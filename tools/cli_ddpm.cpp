// `nanogen train ddpm`.
#include <memory>

#include "tools/cli.h"
#include "tools/cli_summary.h"
#include "tools/json_config.h"
#include "tools/report_format.h"
#include "tools/report_run.h"
#include "tools/train_ddpm.h"

namespace ng::tools {

nlohmann::json ddpm_summary_json(const DDPMSummary& s) {
  nlohmann::json j = train_summary_json("ddpm", s);
  j["last_epoch_loss"] = s.epochs_done > 0 ? nlohmann::json(s.last_epoch_loss) : nlohmann::json(nullptr);
  j["bound"] = nullptr;
  if (s.bound.images > 0)
    j["bound"] = {{"bits_per_dim", s.bound.total},
                  {"prior", s.bound.prior},
                  {"diffusion", s.bound.diffusion},
                  {"decoder", s.bound.decoder},
                  {"images", s.bound.images}};
  return j;
}

std::string ddpm_summary_text(const nlohmann::json& j) {
  std::string text = train_summary_text(j);
  if (!j.at("last_epoch_loss").is_null())
    text += "last epoch mean L_simple: " + format_fixed(json_number(j, {"last_epoch_loss"}), 5) + "\n";
  if (j.at("bound").is_object()) {
    auto term = [&](const char* name, int decimals) { return format_fixed(json_number(j, {"bound", name}), decimals); };
    text += "test bound: " + term("bits_per_dim", 4) + " bits/dim (L_T " + term("prior", 5) + ", sum L_t " +
            term("diffusion", 4) + ", L_0 " + term("decoder", 4) + "; " + format_fixed(json_number(j, {"bound", "images"}), 0) +
            " images)\n";
  }
  return text;
}

void add_train_ddpm(CLI::App* train, Commands& commands) {
  auto common = std::make_shared<CommonOptions>();
  common->lr = 2e-4;  // Ho et al.'s
  auto o = std::make_shared<DDPMOptions>();
  auto json = std::make_shared<bool>(false);
  CLI::App* cmd = train->add_subcommand("ddpm", "the DDPM (U-Net noise predictor, L_simple, EMA; docs/ddpm.md)");
  add_common_flags(cmd, *common);
  add_output_flags(cmd, *json);
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
  cmd->add_flag("--conditional", o->conditional,
                "condition on the data set's labels, with classifier-free guidance at sampling");
  cmd->add_option("--label-dropout", o->label_dropout,
                  "conditional: fraction of images trained without their label (the unconditional model guidance needs)")
      ->capture_default_str();
  cmd->add_option("--guidance-scale", o->guidance_scale,
                  "conditional: guidance scale of the per-epoch samples and the default of sample/eval (1: none)")
      ->capture_default_str();
  add_config_option(cmd, "ddpm");
  commands.emplace_back(cmd, [common, o, json] {
    apply_threads(*common);
    print_summary(ddpm_summary_json(train_ddpm(*common, *o)), *json, ddpm_summary_text);
  });
}

}  // namespace ng::tools
