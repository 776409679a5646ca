// Fuzz target: a run's config.json as `sample`, `eval` and `--resume` read it
// back: the model's name, the image shape, the shared options and the
// model's own, and the model configs they imply. Each value's kind is
// checked before it is converted; the configs check the lower bounds they
// need. (No model is built here: the sizes have no upper bound but the
// memory a model of them takes.)
#include "fuzz_target.h"
#include "tools/model_options.h"
#include "tools/model_registry.h"
#include "tools/run_config.h"
#include "tools/train_common.h"

namespace {

using namespace ng::tools;

void read_back(const std::string& run) {
  const nlohmann::json config = read_run_config(run, "fuzz");
  const std::string model = model_of_run(run, "fuzz").name;
  check_common_options(run_options<CommonOptions>(config, "common", run));
  const ImageShape image = run_image_shape(config, run);
  const auto [c, h, w] = image;
  const int64_t classes = run_classes(config, run).count;
  if (model == "vae") vae_config(run_options<VAEOptions>(config, "vae", run), c, h, w, classes);
  if (model == "gan") gan_config(run_options<GANOptions>(config, "gan", run), c, h, w, classes);
  if (model == "ddpm") {
    const DDPMOptions o = run_options<DDPMOptions>(config, "ddpm", run);
    unet_config(o, c, h, w, classes);
    diffusion_of(o);
  }
  if (model == "classifier") classifier_config(run_options<ClassifierOptions>(config, "classifier", run), c, h, w, 10);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ng::fuzz::write_scratch_file("run/config.json", data, size);
  ng::fuzz::expect_clean_refusal([] { read_back(ng::fuzz::scratch_folder() + "/run"); });
  return 0;
}
