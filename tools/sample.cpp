#include "tools/sample.h"

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "engine/error.h"

namespace ng::tools {

Tensor sample_run(const std::string& run, const SampleOptions& options) {
  NG_CHECK(options.n > 0, "sample: --n must be positive, got ", options.n);
  std::ifstream in(run + "/config.json");
  NG_CHECK(in.good(), "sample: '", run, "' is not a run folder (it has no config.json)");
  const std::string model = nlohmann::json::parse(in).value("model", "");
  if (model == "vae") return sample_vae_run(run, options);
  if (model == "gan") return sample_gan_run(run, options);
  if (model == "ddpm") return sample_ddpm_run(run, options);
  throw Error("sample: run '" + run + "' has model '" + model + "', which nanogen cannot sample from");
}

}  // namespace ng::tools
