// The class labels of a conditional model's batch: one index per image.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ng::models {

using Labels = std::vector<int64_t>;

// Throws unless `y` suits a model with `classes` classes (0: unconditional)
// and a batch of n: n labels in [0, classes), or none when unconditional.
// `who` begins the message.
void check_labels(const Labels& y, int64_t classes, int64_t n, const std::string& who);

// Labels start .. start+count-1 of y, or none when y is empty (an
// unconditional model's batch): the labels of a slice of a batch.
Labels slice_labels(const Labels& y, int64_t start, int64_t count);

// Dataset and loader labels (int) as model labels.
Labels to_labels(const std::vector<int>& labels);

}  // namespace ng::models
