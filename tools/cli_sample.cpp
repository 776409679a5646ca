// `nanogen sample RUN`.
#include <memory>

#include "engine/io/image.h"
#include "tools/cli.h"
#include "tools/cli_summary.h"
#include "tools/sample.h"

namespace ng::tools {

std::string sample_summary_text(const nlohmann::json& summary) { return summary.at("out").get<std::string>() + "\n"; }

void add_sample(CLI::App& app, Commands& commands) {
  CLI::App* cmd = app.add_subcommand("sample", "draw samples from a run's last checkpoint into a PNG grid");
  auto so = std::make_shared<SampleOptions>();
  auto run = std::make_shared<std::string>();
  // Default: RUN/samples/sample_seed<seed>.png, beside the run's own grids.
  auto out = std::make_shared<std::string>();
  auto nrow = std::make_shared<int64_t>(8);
  auto json = std::make_shared<bool>(false);
  cmd->add_option("run", *run, "run folder, e.g. runs/vae")->required();
  cmd->add_option("--n", so->n, "number of samples")->capture_default_str();
  cmd->add_option("--nrow", *nrow, "images per row of the grid")->capture_default_str();
  cmd->add_option("--out", *out, "PNG file to write (default RUN/samples/sample_seed<seed>.png)");
  cmd->add_option("--seed", so->seed, "seed of the sampling noise")->capture_default_str();
  cmd->add_option("--device", so->device, "auto | cpu | cuda")->capture_default_str();
  cmd->add_option("--precision", so->precision, "matmul precision on a GPU: auto | fp32 | tf32 | bf16")
      ->capture_default_str();
  cmd->add_option("--sampler", so->sampler, "DDPM: ancestral | ddim")->capture_default_str();
  cmd->add_option("--steps", so->steps,
                  "DDPM: sampling steps (0: every timestep; default: DDIM 100 on a GPU, 20 on a CPU; ancestral all)");
  cmd->add_option("--eta", so->eta, "DDIM: 0 is deterministic")->capture_default_str();
  cmd->add_option("--class", so->classes,
                  "conditional runs: classes to draw, by name or index (e.g. sneaker, 7, 'sneaker,bag', all; "
                  "default all), a row of --nrow images each (or --n each when given)");
  cmd->add_option("--guidance-scale", so->guidance_scale,
                  "conditional DDPM: classifier-free guidance (1: none; default: the run's --guidance-scale)");
  add_output_flags(cmd, *json);
  commands.emplace_back(cmd, [cmd, so, run, out, nrow, json] {
    so->per_class = cmd->get_option("--n")->count() > 0 ? so->n : *nrow;
    const std::string path = out->empty() ? *run + "/samples/sample_seed" + std::to_string(so->seed) + ".png" : *out;
    const Tensor images = sample_run(*run, *so);
    save_image_grid(path, images, *nrow);
    const nlohmann::json summary = {
        {"run", *run}, {"out", path}, {"n", images.size(0)}, {"nrow", *nrow}, {"seed", so->seed}};
    print_summary(summary, *json, sample_summary_text);
  });
}

}  // namespace ng::tools
