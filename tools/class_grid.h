// The sample grid of a class-conditional model: one row per class, the same
// noise down each column, so that along a row the model's style (what the
// noise decides) changes and down a column only the class does.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/ops/random.h"
#include "engine/tensor.h"
#include "models/labels.h"

namespace ng::tools {

// The labels of such a grid: per_row of classes[0], then per_row of classes[1], ...
models::Labels class_rows(const std::vector<int64_t>& classes, int64_t per_row);

// Every class of a model with `count` classes: 0, 1, ..., count - 1.
std::vector<int64_t> all_classes(int64_t count);

// `rows` copies of noise [per_row, ...] one after another: [rows * per_row, ...].
Tensor repeat_rows(const Tensor& noise, int64_t rows);

// The fixed noise of a run's per-epoch sample grids: 64 draws of `shape`
// (per image), or for a model with `classes` > 0 classes 8 draws repeated
// for each class, with the labels of those rows.
struct GridNoise {
  Tensor noise;
  models::Labels labels;  // empty when unconditional
};
GridNoise grid_noise(int64_t classes, const Shape& shape, Generator& gen, TensorOptions opts);

// The classes a user named (`--class sneaker`, `--class 3,7`, `--class all`):
// each a class name, matched without regard to case, spaces and punctuation
// ("tshirt/top" and "T-shirt/top" agree), else an index in [0, count), else
// the beginning of exactly one name ("sneak" for "Sneaker"), else a part of
// exactly one ("boot" for "Ankle boot"). Throws naming the
// classes when one matches none or several.
std::vector<int64_t> parse_classes(const std::string& text, int64_t count, const std::vector<std::string>& names);

}  // namespace ng::tools
