// The variational autoencoder (Kingma & Welling 2014) of `nanogen train vae`.
//
//   enc: Conv(C,32,4,s2,p1) ReLU Conv(32,64,4,s2,p1) ReLU Flatten Linear(64*H/4*W/4,256) ReLU Linear(256,2z)
//   dec: Linear(z,256) ReLU Linear(256,64*H/4*W/4) ReLU Unflatten ConvT(64,32,4,s2,p1) ReLU ConvT(32,C,4,s2,p1)
//
// The encoder gives q(z|x) = N(mu, diag(exp(logvar))); the decoder gives the
// parameters of p(x|z): Bernoulli logits, or a Gaussian mean with a fixed
// or learned standard deviation. The loss is the negative ELBO in nats per
// image: E_q[-log p(x|z)] + beta * KL(q(z|x) || N(0, I)), the expectation
// estimated with one reparameterised sample z = mu + exp(logvar/2) * eps.
//
// Conditional (classes > 0, Sohn et al. 2015's CVAE): q(z|x,y) and p(x|z,y).
// The label enters both networks at their first fully connected layer, as a
// one-hot vector concatenated to that layer's input; the weight block of the
// one-hot columns is a table of one vector per class (enc_label, dec_label,
// initialised as those columns would be) added to the layer's output. The
// prior stays N(0, I), so sampling a class draws z ~ N(0, I) and decodes it
// with that label.
#pragma once

#include <memory>
#include <string>

#include "engine/nn/layers.h"
#include "models/labels.h"

namespace ng::models {

enum class Likelihood { bernoulli, gaussian_fixed, gaussian_learned };
Likelihood parse_likelihood(const std::string& s);  // "bernoulli", "gaussian", "gaussian-learned"
std::string likelihood_name(Likelihood l);

struct VAEConfig {
  int64_t channels = 1, height = 28, width = 28;
  int64_t z_dim = 16;
  int64_t hidden = 256;           // the fully connected width
  int64_t conv1 = 32, conv2 = 64;  // conv widths (narrow models for tests)
  Likelihood likelihood = Likelihood::bernoulli;
  double sigma = 0.1;  // the Gaussian decoder's fixed standard deviation (initial one when learned)
  int64_t classes = 0;  // > 0: conditional on a label in [0, classes)
};


// Per-image averages over the batch, in nats.
struct ELBOTerms {
  Tensor loss;   // recon + beta * kl, what is minimised
  Tensor recon;  // E_q[-log p(x|z)]
  Tensor kl;     // KL(q(z|x) || p(z))
};

class VAE : public nn::Module {
 public:
  explicit VAE(const VAEConfig& config, Generator& gen = default_generator());

  // q(z|x[,y]): mean and log-variance, each [N, z]. A conditional model
  // needs one label per image, an unconditional one none.
  std::pair<Tensor, Tensor> encode(const Tensor& x, const Labels& y = {}) const;
  // The decoder's output for z [and y]: logits (Bernoulli) or mean (Gaussian), [N,C,H,W].
  Tensor decode(const Tensor& z, const Labels& y = {}) const;
  // The negative ELBO of a batch x in [0,1], with the reparameterisation
  // noise eps [N, z] given (so the computation is reproducible).
  ELBOTerms loss(const Tensor& x, const Tensor& eps, double beta = 1.0, const Labels& y = {}) const;
  // The image a decoder output stands for: sigmoid(logits) or the clamped mean.
  Tensor to_image(const Tensor& decoded) const;
  // E[x|z] images for latent codes z (a fixed prior batch gives comparable grids).
  Tensor generate(const Tensor& z, const Labels& y = {}) const { return to_image(decode(z, y)); }

  const VAEConfig& config() const { return config_; }
  bool conditional() const { return config_.classes > 0; }
  std::shared_ptr<nn::Sequential> enc, dec;
  std::shared_ptr<nn::Embedding> enc_label, dec_label;  // null unless conditional
  Tensor log_sigma;  // the Gaussian decoder's log standard deviation (a parameter when learned)

 private:
  VAEConfig config_;
};

// z = mu + exp(logvar / 2) * eps, differentiable in mu and logvar.
Tensor reparameterize(const Tensor& mu, const Tensor& logvar, const Tensor& eps);

}  // namespace ng::models
