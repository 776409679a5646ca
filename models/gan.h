// The DCGAN (Radford et al. 2016) of `nanogen train gan`, with widths w_G = g_width and
// w_D = d_width (64 in the canonical model) and H4 = H/4, W4 = W/4:
//
//   G: Linear(z, 2w_G*H4*W4) BN ReLU Unflatten(2w_G,H4,W4) ConvT(2w_G,w_G,4,s2,p1) BN ReLU ConvT(w_G,C,4,s2,p1) tanh
//   D: Conv(C,w_D,4,s2,p1) LReLU(0.2) Conv(w_D,2w_D,4,s2,p1) NORM LReLU(0.2) Flatten Linear(2w_D*H4*W4, 1)
//
// For Fashion-MNIST (28x28x1, z = 64) that is Linear(64,6272) and a 7x7
// bottom; for CIFAR-10 (32x32x3) an 8x8 bottom. G's images are in [-1,1].
// D returns one logit (or critic value) per image, [N].
//
// Parameter names are those of benchmarks/pytorch/gan.py's state_dict:
// G.0 Linear, G.1 BatchNorm1d, G.4 ConvT, G.5 BatchNorm2d, G.7 ConvT and
// D.0 Conv, D.2 Conv, D.3 NORM, D.6 Linear (stateless layers keep their
// index, as in nn.Sequential).
//
// NORM is BatchNorm2d by default. The WGAN-GP penalty differentiates each
// critic value w.r.t. its own input; batch norm makes every value depend on
// the whole batch, so that gradient is not the per-sample one the penalty is
// about. With a gradient penalty D uses no norm (Gulrajani et al.: "no
// critic batch normalization"; DNorm::layer is their suggested alternative,
// per sample and so fine too). Either way D.3 keeps its index.
//
// Conditional (classes > 0): G adds a learned vector per class right after
// its first batch norm (G_label: a class-conditional shift, as the beta of
// conditional batch norm; started at 0), and D is a projection
// discriminator (Miyato & Koyama 2018): with phi(x) the flattened features
// D.6 reads,
//
//   D(x, y) = w . phi(x) + b + e_y . phi(x),
//
// one linear head per class, the shared head plus the class's own row of
// D_label (started at the shared head's scale). Fakes are drawn for the
// labels of the real batch, so both sides of D's loss see one class mix.
// Why after the batch norm: a label added before it (a one-hot concatenated
// to z) is the same vector for every image of a one-class batch, and batch
// norm subtracts it with the batch mean; G would then draw the same images
// whatever class it is asked for.
#pragma once

#include <memory>
#include <string>

#include "engine/nn/layers.h"
#include "models/gan_losses.h"
#include "models/labels.h"

namespace ng::models {

enum class DNorm { batch, layer, none };
DNorm parse_d_norm(const std::string& s);  // "batch", "layer", "none"
std::string d_norm_name(DNorm n);

struct GANConfig {
  int64_t channels = 1, height = 28, width = 28;
  int64_t z_dim = 64;
  int64_t g_width = 64, d_width = 64;  // narrow models for tests
  DNorm d_norm = DNorm::batch;
  int64_t classes = 0;  // > 0: conditional on a label in [0, classes)
};

// How a training step scores D and G.
struct GANObjective {
  GANLoss loss = GANLoss::nonsaturating;
  double gp = 0.0;    // gradient penalty weight lambda (0: none)
  double clip = 0.0;  // weight clipping bound for D after each step (0: none)
};

// What a discriminator step computed, for the update and for the logs.
struct DiscriminatorTerms {
  Tensor loss;                      // what D minimises (penalty included)
  Tensor penalty;                   // lambda-free gradient penalty, undefined without one
  Tensor real_logits, fake_logits;  // [N] each
};

class GAN : public nn::Module {
 public:
  explicit GAN(const GANConfig& config, Generator& gen = default_generator());

  // z [N, z_dim] (and a label each when conditional) -> images [N,C,H,W] in [-1,1].
  Tensor generate(const Tensor& z, const Labels& y = {}) const;
  // images [N,C,H,W] (and a label each when conditional) -> logits [N].
  Tensor discriminate(const Tensor& x, const Labels& y = {}) const;

  // D's loss on a real batch (labelled y when conditional) and on G(z, y)
  // (G run without a graph: D's step does not need G's gradients). alpha
  // [N] mixes the interpolates of the gradient penalty (ignored without one).
  DiscriminatorTerms discriminator_terms(const Tensor& real, const Tensor& z, const Tensor& alpha,
                                         const GANObjective& objective, const Labels& y = {}) const;
  // G's loss on G(z, y), with the logits it saw.
  std::pair<Tensor, Tensor> generator_terms(const Tensor& z, const GANObjective& objective,
                                            const Labels& y = {}) const;

  // The two players' parameters, named as in state_dict() ("G.0.weight",
  // "G_label.weight").
  nn::NamedTensors g_parameters() const;
  nn::NamedTensors d_parameters() const;
  // The same tensors under the names their optimizer's state has in a
  // checkpoint ("optim.G." + "0.weight", "optim.G." + "label.weight").
  nn::NamedTensors g_optimized() const;
  nn::NamedTensors d_optimized() const;

  const GANConfig& config() const { return config_; }
  bool conditional() const { return config_.classes > 0; }
  std::shared_ptr<nn::Sequential> G, D;
  std::shared_ptr<nn::Embedding> G_label, D_label;  // null unless conditional

 private:
  GANConfig config_;
};

}  // namespace ng::models
