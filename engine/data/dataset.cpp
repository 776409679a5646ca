#include "engine/data/dataset.h"

#include "engine/error.h"

namespace ng {

void check_dataset(const Dataset& d) {
  NG_CHECK(d.images.defined(), "dataset '", d.name, "': images are undefined");
  NG_CHECK(d.images.dim() == 4, "dataset '", d.name, "': images must be [N,C,H,W], got ",
           shape_str(d.images.shape()));
  NG_CHECK(d.images.dtype() == DType::f32 && d.images.device().is_cpu(), "dataset '", d.name,
           "': images must be float32 on the CPU, got ", dtype_name(d.images.dtype()), " on ",
           d.images.device().str());
  NG_CHECK(int64_t(d.labels.size()) == d.size(), "dataset '", d.name, "': ", d.labels.size(), " labels for ",
           d.size(), " images ", shape_str(d.images.shape()));
  NG_CHECK(d.class_names.empty() || int(d.class_names.size()) == d.num_classes, "dataset '", d.name, "': ",
           d.class_names.size(), " class names for ", d.num_classes, " classes");
  for (size_t i = 0; i < d.labels.size(); ++i)
    NG_CHECK(d.labels[i] >= 0 && d.labels[i] < d.num_classes, "dataset '", d.name, "': label ", d.labels[i],
             " of example ", i, " is out of range for ", d.num_classes, " classes");
}

}  // namespace ng
