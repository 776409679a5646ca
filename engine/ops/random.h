// Counter-based random numbers (Philox4x32-10, kernels/philox.h).
//
// A Generator is a (seed, offset) pair. A draw of n numbers uses Philox
// blocks offset .. offset + ceil(n/4) - 1 (four 32-bit words a block) and
// advances the offset past them, so the same (seed, offset) gives the same
// numbers on every device and in every run. Element i of a draw comes from
// block offset + i/4 (the layout is in kernels/philox.h), whatever the dtype:
// rand, bernoulli and dropout read word i%4 of it, randn a Box-Muller pair.
//
// A Generator is not synchronised: share one between threads only with a lock.
#pragma once

#include <cstdint>

#include "engine/tensor.h"

namespace ng {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0, uint64_t offset = 0) : seed_(seed), offset_(offset) {}
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  // Reserves the blocks for n numbers; returns the first block's offset.
  uint64_t take(int64_t n) {
    const uint64_t blocks = (uint64_t(n) + 3) / 4;
    const uint64_t first = offset_ + shard_ * blocks;
    offset_ += shards_ * blocks;
    return first;
  }
  void set_state(uint64_t seed, uint64_t offset) { seed_ = seed; offset_ = offset; }

  // Data-parallel draws (docs/distributed.md). With shard i of `count` set,
  // a draw of n numbers is part i of a draw of count * n numbers (its blocks
  // follow the parts before it), and the offset moves past the whole draw.
  // So when n is a multiple of 4, the ranks of a data-parallel step, each
  // drawing the noise of its rows, together draw exactly the numbers one
  // process draws for the whole batch, and their generators stay equal.
  void set_shard(uint64_t index, uint64_t count) {
    shard_ = index;
    shards_ = count;
  }

 private:
  uint64_t seed_;
  uint64_t offset_;
  uint64_t shard_ = 0, shards_ = 1;
};

// The process-wide generator used when none is passed.
Generator& default_generator();
void manual_seed(uint64_t seed);

// Uniform on the open interval (0, 1).
Tensor rand(const Shape& shape, Generator& gen, TensorOptions opts = {});
Tensor rand(const Shape& shape, TensorOptions opts = {});
// Standard normal (Box-Muller over pairs of uniforms).
Tensor randn(const Shape& shape, Generator& gen, TensorOptions opts = {});
Tensor randn(const Shape& shape, TensorOptions opts = {});
// 1 with probability p (elementwise), else 0; same shape/dtype as p: element
// i is 1 exactly when u < p[i], u the i-th number rand would have drawn.
// Every p must lie in [0, 1]. Not differentiable.
Tensor bernoulli(const Tensor& p, Generator& gen);
Tensor bernoulli(const Tensor& p);

// Inverted dropout: in training zeroes each element with probability p and
// scales the rest by 1/(1-p); the identity otherwise. Differentiable.
// Element i is dropped exactly when u < p, u the i-th number rand would have
// drawn. p must be in [0, 1). When p == 0 or !training it returns x itself
// and draws nothing (the generator does not advance).
Tensor dropout(const Tensor& x, double p, bool training, Generator& gen);
Tensor dropout(const Tensor& x, double p, bool training);

}  // namespace ng
