#include "engine/nn/layers.h"

#include <cmath>
#include <typeinfo>

#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops/activation.h"
#include "engine/dist/sync_batch_norm.h"
#include "engine/ops/conv.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/embedding.h"
#include "engine/ops/linalg.h"
#include "engine/ops/norm.h"

namespace ng::nn {

Tensor uniform_init(const Shape& shape, int64_t fan_in, Generator& gen) {
  const double bound = fan_in > 0 ? 1.0 / std::sqrt(double(fan_in)) : 0.0;
  NoGradGuard no_grad;
  return (rand(shape, gen) * (2 * bound) - bound).detach();
}

Linear::Linear(int64_t in, int64_t out, bool with_bias, Generator& gen) {
  weight = uniform_init({out, in}, in, gen);
  register_parameter("weight", weight);
  if (with_bias) {
    bias = uniform_init({out}, in, gen);
    register_parameter("bias", bias);
  }
}

Tensor Linear::forward(const Tensor& x) { return linear(x, weight, bias); }

Embedding::Embedding(int64_t num, int64_t dim, Generator& gen, int64_t fan_in) {
  NG_CHECK(num > 0 && dim > 0, "Embedding: num ", num, " and dim ", dim, " must be positive");
  if (fan_in > 0) {
    weight = uniform_init({num, dim}, fan_in, gen);
  } else {
    NoGradGuard no_grad;
    weight = randn({num, dim}, gen).detach();
  }
  register_parameter("weight", weight);
}

Tensor Embedding::forward(const std::vector<int64_t>& indices) const { return embedding(weight, indices); }

Tensor Embedding::forward(const Tensor&) {
  throw Error("Embedding: look rows up with a list of indices (forward(std::vector<int64_t>)), not a tensor");
}

Conv2d::Conv2d(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding, bool with_bias,
               Generator& gen)
    : Conv2d(in, out, kernel, Conv2dOptions{.stride = stride, .padding = padding}, with_bias, gen) {}

Conv2d::Conv2d(int64_t in, int64_t out, Size2 kernel, const Conv2dOptions& options_, bool with_bias, Generator& gen)
    : options(options_) {
  NG_CHECK(options.groups >= 1 && in % options.groups == 0 && out % options.groups == 0, "Conv2d: ", in,
           " input and ", out, " output channels do not divide into ", options.groups, " groups");
  const int64_t fan_in = in / options.groups * kernel.h * kernel.w;
  weight = uniform_init({out, in / options.groups, kernel.h, kernel.w}, fan_in, gen);
  register_parameter("weight", weight);
  if (with_bias) {
    bias = uniform_init({out}, fan_in, gen);
    register_parameter("bias", bias);
  }
}

Tensor Conv2d::forward(const Tensor& x) { return conv2d(x, weight, bias, options); }

Tensor Conv2d::forward_activation(const Tensor& x, ConvActivation act, double slope) {
  return conv2d_activation(x, weight, bias, options, act, slope);
}

// PyTorch computes the fan-in of a transposed conv from weight.size(1),
// which is the number of output channels.
ConvTranspose2d::ConvTranspose2d(int64_t in, int64_t out, int64_t kernel, int64_t stride_, int64_t padding_,
                                 int64_t output_padding_, bool with_bias, Generator& gen)
    : stride(stride_), padding(padding_), output_padding(output_padding_) {
  const int64_t fan_in = out * kernel * kernel;
  weight = uniform_init({in, out, kernel, kernel}, fan_in, gen);
  register_parameter("weight", weight);
  if (with_bias) {
    bias = uniform_init({out}, fan_in, gen);
    register_parameter("bias", bias);
  }
}

Tensor ConvTranspose2d::forward(const Tensor& x) {
  return conv_transpose2d(x, weight, bias, stride, padding, output_padding);
}

BatchNorm::BatchNorm(int64_t channels, double eps_, double momentum_, bool affine) : eps(eps_), momentum(momentum_) {
  if (affine) {
    weight = ones({channels});
    bias = zeros({channels});
    register_parameter("weight", weight);
    register_parameter("bias", bias);
  }
  running_mean = zeros({channels});
  running_var = ones({channels});
  num_batches_tracked = zeros({});
  register_buffer("running_mean", running_mean);
  register_buffer("running_var", running_var);
  register_buffer("num_batches_tracked", num_batches_tracked);
}

namespace {
dist::Communicator* batch_norm_ranks = nullptr;
}  // namespace

void set_batch_norm_ranks(dist::Communicator* ranks) { batch_norm_ranks = ranks; }

Tensor BatchNorm::forward(const Tensor& x) {
  if (is_training()) {
    NoGradGuard no_grad;
    num_batches_tracked.fill_(num_batches_tracked.item() + 1);
  }
  if (is_training() && batch_norm_ranks != nullptr && batch_norm_ranks->world_size() > 1)
    return dist::sync_batch_norm(x, weight, bias, running_mean, running_var, momentum, eps, *batch_norm_ranks);
  return batch_norm(x, weight, bias, running_mean, running_var, is_training(), momentum, eps);
}

GroupNorm::GroupNorm(int64_t groups_, int64_t channels, double eps_, bool affine) : groups(groups_), eps(eps_) {
  if (affine) {
    weight = ones({channels});
    bias = zeros({channels});
    register_parameter("weight", weight);
    register_parameter("bias", bias);
  }
}

Tensor GroupNorm::forward(const Tensor& x) { return group_norm(x, groups, weight, bias, eps); }
Tensor GroupNorm::forward_silu(const Tensor& x) { return group_norm_silu(x, groups, weight, bias, eps); }

LayerNorm::LayerNorm(Shape shape, double eps_, bool affine) : normalized_shape(std::move(shape)), eps(eps_) {
  if (affine) {
    weight = ones(normalized_shape);
    bias = zeros(normalized_shape);
    register_parameter("weight", weight);
    register_parameter("bias", bias);
  }
}

Tensor LayerNorm::forward(const Tensor& x) { return layer_norm(x, normalized_shape, weight, bias, eps); }

Tensor Rectifier::forward(const Tensor& x) { return kind == ConvActivation::relu ? relu(x) : leaky_relu(x, slope); }
bool Rectifier::fusable() const { return kind == ConvActivation::relu || (std::isfinite(slope) && slope > 0); }

std::shared_ptr<Module> ReLU() { return std::make_shared<Rectifier>(ConvActivation::relu, 0.0); }
std::shared_ptr<Module> LeakyReLU(double slope) { return std::make_shared<Rectifier>(ConvActivation::leaky_relu, slope); }
std::shared_ptr<Module> Sigmoid() { return std::make_shared<Lambda>([](const Tensor& x) { return sigmoid(x); }); }
std::shared_ptr<Module> Tanh() { return std::make_shared<Lambda>([](const Tensor& x) { return tanh(x); }); }
std::shared_ptr<Module> SiLU() { return std::make_shared<Lambda>([](const Tensor& x) { return silu(x); }); }
std::shared_ptr<Module> Flatten() { return std::make_shared<Lambda>([](const Tensor& x) { return x.flatten(1); }); }
std::shared_ptr<Module> Unflatten(Shape shape) {
  return std::make_shared<Lambda>([shape](const Tensor& x) {
    Shape full{x.size(0)};
    full.insert(full.end(), shape.begin(), shape.end());
    return x.reshape(full);
  });
}

Tensor Dropout::forward(const Tensor& x) { return dropout(x, p, is_training()); }

Sequential::Sequential(std::initializer_list<std::shared_ptr<Module>> modules) {
  for (const auto& m : modules) push_back(m);
}

void Sequential::push_back(std::shared_ptr<Module> m) {
  register_module(std::to_string(children().size()), std::move(m));
}

Tensor Sequential::forward(const Tensor& x) { return forward_range(x, 0, size()); }

Tensor Sequential::forward_range(const Tensor& x, size_t begin, size_t end) const {
  NG_CHECK(begin <= end && end <= size(), "Sequential: layers [", begin, ", ", end, ") of ", size());
  Tensor h = x;
  for (size_t i = begin; i < end; ++i) {
    Module& layer = *children()[i].second;
    // Exactly these two types: a subclass may have a forward of its own.
    Module* next = i + 1 < end ? children()[i + 1].second.get() : nullptr;
    if (typeid(layer) == typeid(Conv2d) && next && typeid(*next) == typeid(Rectifier) &&
        static_cast<Rectifier*>(next)->fusable()) {
      const auto* act = static_cast<Rectifier*>(next);
      h = static_cast<Conv2d&>(layer).forward_activation(h, act->kind, act->slope);
      ++i;  // the activation ran in the conv's pass
    } else {
      h = layer.forward(h);
    }
  }
  return h;
}

}  // namespace ng::nn
