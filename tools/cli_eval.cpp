// `nanogen eval RUN`.
#include <memory>

#include "tools/cli.h"
#include "tools/cli_summary.h"
#include "tools/eval.h"

namespace ng::tools {

nlohmann::json eval_summary_json(const nlohmann::json& report, const std::string& run) {
  nlohmann::json j = report;
  j["eval_json"] = run + "/eval.json";
  return j;
}

std::string eval_summary_text(const nlohmann::json& j) {
  return eval_table(j) + "wrote " + j.at("eval_json").get<std::string>() + "\n";
}

void add_eval(CLI::App& app, Commands& commands) {
  auto o = std::make_shared<EvalOptions>();
  auto run = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand(
      "eval", "measure a run's samples against the test set (FID, KID, precision/recall, bits/dim, ...); "
              "writes RUN/eval.json");
  cmd->add_option("run", *run, "run folder, e.g. runs/ddpm")->required();
  add_output_flags(cmd, *json);
  cmd->add_option("--n", o->n, "samples to draw (default 10000; 1000 for a DDPM on a CPU)");
  cmd->add_option("--batch-size", o->batch_size, "samples per generator call")->capture_default_str();
  cmd->add_option("--seed", o->seed, "seed of the sampling noise and the KID subsets")->capture_default_str();
  cmd->add_option("--device", o->device, "auto | cpu | cuda")->capture_default_str();
  cmd->add_option("--precision", o->precision, "matmul precision on a GPU: auto | fp32 | tf32 | bf16")
      ->capture_default_str();
  cmd->add_option("--sampler", o->sampler, "DDPM: ancestral | ddim")->capture_default_str();
  cmd->add_option("--steps", o->steps,
                  "DDPM: sampling steps (0: every timestep; default: DDIM 100 on a GPU, 20 on a CPU; ancestral all)");
  cmd->add_option("--eta", o->eta, "DDIM: 0 is deterministic")->capture_default_str();
  cmd->add_option("--guidance-scale", o->guidance_scale,
                  "conditional DDPM: classifier-free guidance (1: none; default: the run's --guidance-scale)");
  cmd->add_option("--classifier", o->classifier,
                  "feature classifier (.safetensors from `nanogen train classifier`); default: the data set's "
                  "shipped one");
  cmd->add_option("--test-limit", o->test_limit, "use only the first N test images (0: all)")->capture_default_str();
  cmd->add_option("--bound-images", o->bound_images,
                  "test images for bits/dim (0: skip; default 1000; 50 for a DDPM on a CPU)");
  cmd->add_option("--bound-timesteps", o->bound_timesteps,
                  "DDPM bound: strata of timesteps (0: all T; default 100; 20 on a CPU)");
  cmd->add_option("--iw-samples", o->iw_samples, "VAE bound: importance samples per image")->capture_default_str();
  cmd->add_option("--vae-output", o->vae_output,
                  "VAE: what is scored: mean (E[x|z], z ~ p(z)) | draw (x ~ p(x|z)) | reconstruction (E[x|z], "
                  "z ~ q(z|x) of the first --n test images: recall without mode dropping)")
      ->capture_default_str();
  cmd->add_option("--nearest", o->nearest_queries, "samples shown with their nearest training images")
      ->capture_default_str();
  cmd->add_option("--nearest-k", o->nearest_k, "training images per sample")->capture_default_str();
  commands.emplace_back(cmd, [o, run, json] {
    print_summary(eval_summary_json(evaluate_run(*run, *o), *run), *json, eval_summary_text);
  });
}

}  // namespace ng::tools
