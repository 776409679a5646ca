#include "tools/sample.h"

#include "engine/error.h"
#include "tools/model_registry.h"

namespace ng::tools {

Tensor sample_run(const std::string& run, const SampleOptions& options) {
  NG_CHECK(options.n > 0, "sample: --n must be positive, got ", options.n);
  const ModelEntry& model = model_of_run(run, "sample");
  NG_CHECK(model.sample, "sample: run '", run, "' is a ", model.name, ", which draws no images");
  return model.sample(run, options);
}

}  // namespace ng::tools
