#include "models/labels.h"

#include "engine/error.h"

namespace ng::models {

void check_labels(const Labels& y, int64_t classes, int64_t n, const std::string& who) {
  if (classes == 0) {
    NG_CHECK(y.empty(), who, ": the model is not class-conditional, but ", y.size(), " labels were given");
    return;
  }
  NG_CHECK(int64_t(y.size()) == n, who, ": the class-conditional model needs one label per image: ", y.size(),
           " labels for ", n, " images");
  for (size_t i = 0; i < y.size(); ++i)
    NG_CHECK(y[i] >= 0 && y[i] < classes, who, ": label ", y[i], " (image ", i, ") is outside [0, ", classes, ")");
}

Labels slice_labels(const Labels& y, int64_t start, int64_t count) {
  if (y.empty()) return y;
  NG_CHECK(start >= 0 && count >= 0 && start + count <= int64_t(y.size()), "labels ", start, "..",
           start + count - 1, " asked of ", y.size());
  return Labels(y.begin() + start, y.begin() + start + count);
}

Labels to_labels(const std::vector<int>& labels) { return Labels(labels.begin(), labels.end()); }

}  // namespace ng::models
