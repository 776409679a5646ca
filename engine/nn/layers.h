// The layers the three models are built from, with PyTorch's default
// initialisation (so side-by-side runs start from the same distribution).
#pragma once

#include <functional>
#include <initializer_list>

#include "engine/dist/communicator.h"
#include "engine/nn/module.h"
#include "engine/ops/conv.h"
#include "engine/ops/random.h"

namespace ng::nn {

// PyTorch's default for Linear/Conv weights and biases: kaiming_uniform with
// a = sqrt(5), which is U(-1/sqrt(fan_in), 1/sqrt(fan_in)), for both.
Tensor uniform_init(const Shape& shape, int64_t fan_in, Generator& gen);

class Linear : public Module {
 public:
  Linear(int64_t in, int64_t out, bool bias = true, Generator& gen = default_generator());
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias;  // [out, in], [out]
};

// A table of `num` learned vectors of size `dim`, looked up by index
// (engine/ops/embedding.h). Initialised N(0, 1) as PyTorch's nn.Embedding,
// or, given `fan_in`, U(-1/sqrt(fan_in), 1/sqrt(fan_in)): the initialisation
// of the columns a Linear with that fan-in would give a concatenated one-hot
// input, which is what the table stands in for.
class Embedding : public Module {
 public:
  Embedding(int64_t num, int64_t dim, Generator& gen = default_generator(), int64_t fan_in = 0);
  Tensor forward(const std::vector<int64_t>& indices) const;  // [N, dim]
  Tensor forward(const Tensor&) override;                     // refused: indices are not a float tensor
  Tensor weight;                                              // [num, dim]
};

class Conv2d : public Module {
 public:
  Conv2d(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1, int64_t padding = 0, bool bias = true,
         Generator& gen = default_generator());
  // Any kernel shape with groups, dilation and per-axis stride and padding;
  // in and out must both divide into options.groups.
  Conv2d(int64_t in, int64_t out, Size2 kernel, const Conv2dOptions& options, bool bias = true,
         Generator& gen = default_generator());
  Tensor forward(const Tensor& x) override;
  // act(forward(x)), ng::conv2d_activation: one op where the options take
  // the conv kernels, otherwise the two ops. The same bits either way.
  Tensor forward_activation(const Tensor& x, ConvActivation act, double slope);
  Tensor weight, bias;  // [out, in / groups, kh, kw], [out]
  Conv2dOptions options;
};

class ConvTranspose2d : public Module {
 public:
  ConvTranspose2d(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1, int64_t padding = 0,
                  int64_t output_padding = 0, bool bias = true, Generator& gen = default_generator());
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias;  // [in, out, k, k], [out]
  int64_t stride, padding, output_padding;
};

// Data-parallel runs with --sync-batch-norm (docs/distributed.md): while
// `ranks` is set and has several ranks, every BatchNorm in training mode
// normalises over the batches of all of them (dist/sync_batch_norm.h).
// nullptr, the default: each rank normalises its own batch.
void set_batch_norm_ranks(dist::Communicator* ranks);

// BatchNorm1d and BatchNorm2d are the same computation over dim 1.
class BatchNorm : public Module {
 public:
  explicit BatchNorm(int64_t channels, double eps = 1e-5, double momentum = 0.1, bool affine = true);
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias, running_mean, running_var, num_batches_tracked;
  double eps, momentum;
};
using BatchNorm1d = BatchNorm;
using BatchNorm2d = BatchNorm;

class GroupNorm : public Module {
 public:
  GroupNorm(int64_t groups, int64_t channels, double eps = 1e-5, bool affine = true);
  Tensor forward(const Tensor& x) override;
  Tensor forward_silu(const Tensor& x);  // silu(forward(x)) as one op, ng::group_norm_silu
  Tensor weight, bias;
  int64_t groups;
  double eps;
};

class LayerNorm : public Module {
 public:
  explicit LayerNorm(Shape normalized_shape, double eps = 1e-5, bool affine = true);
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias;
  Shape normalized_shape;
  double eps;
};

// A stateless function as a module (activations, reshapes).
class Lambda : public Module {
 public:
  explicit Lambda(std::function<Tensor(const Tensor&)> f) : f_(std::move(f)) {}
  Tensor forward(const Tensor& x) override { return f_(x); }

 private:
  std::function<Tensor(const Tensor&)> f_;
};

// relu or leaky_relu: a module of its own (not a Lambda) so that Sequential
// can see a Conv2d followed by one and run the pair as Conv2d::forward_activation.
class Rectifier : public Module {
 public:
  Rectifier(ConvActivation which, double leak) : kind(which), slope(leak) {}
  Tensor forward(const Tensor& x) override;
  // Whether conv2d_activation takes it (leaky_relu: a finite slope > 0).
  bool fusable() const;
  ConvActivation kind;
  double slope;  // leaky_relu only
};

std::shared_ptr<Module> ReLU();
std::shared_ptr<Module> LeakyReLU(double slope = 0.01);
std::shared_ptr<Module> Sigmoid();
std::shared_ptr<Module> Tanh();
std::shared_ptr<Module> SiLU();
std::shared_ptr<Module> Flatten();              // [N, ...] -> [N, prod(...)]
std::shared_ptr<Module> Unflatten(Shape shape);  // [N, prod] -> [N, shape...]

class Dropout : public Module {
 public:
  explicit Dropout(double probability) : p(probability) {}
  Tensor forward(const Tensor& x) override;
  double p;
};

// Runs its children in order; they are named "0", "1", ... as in PyTorch.
// A Conv2d followed by a ReLU or LeakyReLU runs as one op
// (Conv2d::forward_activation), with the bits of the two run one by one.
class Sequential : public Module {
 public:
  Sequential() = default;
  Sequential(std::initializer_list<std::shared_ptr<Module>> modules);
  void push_back(std::shared_ptr<Module> m);
  Tensor forward(const Tensor& x) override;
  // Layers begin..end-1 only: a model that adds something between two
  // layers (a class embedding) runs the halves on either side of it.
  Tensor forward_range(const Tensor& x, size_t begin, size_t end) const;
  size_t size() const { return children().size(); }
  Module& operator[](size_t i) const { return *children()[i].second; }
};

}  // namespace ng::nn
