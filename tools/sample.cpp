#include "tools/sample.h"

#include <algorithm>
#include <vector>

#include "engine/error.h"
#include "engine/ops/shape.h"
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
  how.steps = options.steps;  // -1: default_sampling_steps
  how.eta = options.eta;
  const std::unique_ptr<EvaluatedModel> model = entry.open(run, resolve_device(options.device, options.precision), how);
  LazyProgress bar("sampling");
  model->on_step = bar.callback();
  // A large --n goes through in batches: the DDPM's U-Net on 100k images at
  // once would need gigabytes of activations. The batch size is fixed, so the
  // images depend on --n and --seed alone.
  constexpr int64_t kBatch = 256;
  Generator gen(options.seed);
  std::vector<Tensor> batches;
  for (int64_t done = 0; done < options.n; done += kBatch)
    batches.push_back(model->sample(std::min(kBatch, options.n - done), gen));
  bar.finish("");
  return batches.size() == 1 ? batches[0] : cat(batches, 0);
}

}  // namespace ng::tools
