// pad: PyTorch's F.pad for the trailing dimensions, in three modes.
//
// `padding` holds (before, after) pairs from the last dimension backwards,
// as PyTorch writes it: {left, right} pads the width, {left, right, top,
// bottom} the width and the height. Each amount must be >= 0.
//
//   constant   the new border holds `value`
//   reflect    mirrored without repeating the edge: [a b c d] padded by 2
//              on the left is [c b | a b c d] (needs amount < size)
//   replicate  the edge element repeated: [a a | a b c d]
//
// Built from cat, narrow and expand, so it runs on every device, and its
// gradient, to every order, is theirs: the border's gradient flows back to
// the elements it copies (twice for a reflected or replicated element that
// also stays in place) and a constant border's goes nowhere.
#pragma once

#include <string>
#include <vector>

#include "engine/tensor.h"

namespace ng {

enum class PadMode { constant, reflect, replicate };
PadMode parse_pad_mode(const std::string& name);  // "constant", "reflect", "replicate"

Tensor pad(const Tensor& x, const std::vector<int64_t>& padding, PadMode mode = PadMode::constant,
           double value = 0.0);

}  // namespace ng
