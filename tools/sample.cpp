#include "tools/sample.h"

#include "engine/error.h"
#include "engine/ops/random.h"
#include "tools/model_registry.h"
#include "tools/progress.h"
#include "tools/train_common.h"

namespace ng::tools {

Tensor sample_run(const std::string& run, const SampleOptions& options) {
  NG_CHECK(options.n > 0, "sample: --n must be positive, got ", options.n);
  const ModelEntry& entry = model_of_run(run, "sample");
  NG_CHECK(entry.open, "sample: run '", run, "' is a ", entry.name, ", which draws no images");
  EvalOptions how;
  how.sampler = options.sampler;
  how.steps = options.steps;  // 0: every timestep, for either sampler
  how.eta = options.eta;
  const std::unique_ptr<EvaluatedModel> model = entry.open(run, resolve_device(options.device, options.precision), how);
  LazyProgress bar("sampling");
  model->on_step = bar.callback();
  Generator gen(options.seed);
  const Tensor images = model->sample(options.n, gen);
  bar.finish("");
  return images;
}

}  // namespace ng::tools
