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
#pragma once

#include <memory>
#include <string>

#include "engine/nn/layers.h"
#include "models/gan_losses.h"

namespace ng::models {

enum class DNorm { batch, layer, none };
DNorm parse_d_norm(const std::string& s);  // "batch", "layer", "none"
std::string d_norm_name(DNorm n);

struct GANConfig {
  int64_t channels = 1, height = 28, width = 28;
  int64_t z_dim = 64;
  int64_t g_width = 64, d_width = 64;  // narrow models for tests
  DNorm d_norm = DNorm::batch;
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

  // z [N, z_dim] -> images [N,C,H,W] in [-1,1].
  Tensor generate(const Tensor& z) const;
  // images [N,C,H,W] -> logits [N].
  Tensor discriminate(const Tensor& x) const;

  // D's loss on a real batch and on G(z) (G run without a graph: D's step
  // does not need G's gradients). alpha [N] mixes the interpolates of the
  // gradient penalty (ignored without one).
  DiscriminatorTerms discriminator_terms(const Tensor& real, const Tensor& z, const Tensor& alpha,
                                         const GANObjective& objective) const;
  // G's loss on G(z), with the logits it saw.
  std::pair<Tensor, Tensor> generator_terms(const Tensor& z, const GANObjective& objective) const;

  // The two players' parameters, named as in state_dict() ("G.0.weight").
  nn::NamedTensors g_parameters() const;
  nn::NamedTensors d_parameters() const;

  const GANConfig& config() const { return config_; }
  std::shared_ptr<nn::Sequential> G, D;

 private:
  GANConfig config_;
};

}  // namespace ng::models
