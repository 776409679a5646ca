#include "tools/sample.h"

#include <algorithm>
#include <vector>

#include "engine/error.h"
#include "engine/ops/shape.h"
#include "engine/ops/random.h"
#include "tools/class_grid.h"
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
  how.guidance_scale = options.guidance_scale;
  const std::unique_ptr<EvaluatedModel> model = entry.open(run, resolve_device(options.device, options.precision), how);
  models::Labels y;
  if (model->conditioning.count > 0) {
    NG_CHECK(options.per_class > 0, "sample: images per class must be positive, got ", options.per_class);
    y = class_rows(parse_classes(options.classes.empty() ? "all" : options.classes, model->conditioning.count,
                                 model->conditioning.names),
                   options.per_class);
  } else {
    NG_CHECK(options.classes.empty(), "sample: --class ", options.classes, ": run ", run,
             " is not class-conditional (train it with --conditional)");
  }
  const int64_t n = y.empty() ? options.n : int64_t(y.size());
  LazyProgress bar("sampling");
  model->on_step = bar.callback();
  // A large --n goes through in batches: the DDPM's U-Net on 100k images at
  // once would need gigabytes of activations. The batch size is fixed, so the
  // images depend on --n and --seed alone.
  constexpr int64_t kBatch = 256;
  Generator gen(options.seed);
  std::vector<Tensor> batches;
  for (int64_t done = 0; done < n; done += kBatch) {
    const int64_t count = std::min(kBatch, n - done);
    batches.push_back(model->sample(count, gen, models::slice_labels(y, done, count)));
  }
  bar.finish("");
  return batches.size() == 1 ? batches[0] : cat(batches, 0);
}

}  // namespace ng::tools
