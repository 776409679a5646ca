#include "models/vae.h"

#include <cmath>

#include "engine/nanogen.h"

namespace ng::models {

Likelihood parse_likelihood(const std::string& s) {
  if (s == "bernoulli") return Likelihood::bernoulli;
  if (s == "gaussian") return Likelihood::gaussian_fixed;
  if (s == "gaussian-learned") return Likelihood::gaussian_learned;
  throw Error("vae: likelihood '" + s + "' is not known; expected bernoulli, gaussian or gaussian-learned");
}

std::string likelihood_name(Likelihood l) {
  switch (l) {
    case Likelihood::bernoulli: return "bernoulli";
    case Likelihood::gaussian_fixed: return "gaussian";
    case Likelihood::gaussian_learned: return "gaussian-learned";
  }
  return "?";
}

VAE::VAE(const VAEConfig& c, Generator& gen) : config_(c) {
  NG_CHECK(c.height % 4 == 0 && c.width % 4 == 0, "vae: image size ", c.height, "x", c.width,
           " must be divisible by 4 (two stride-2 convolutions)");
  const int64_t h4 = c.height / 4, w4 = c.width / 4, flat = c.conv2 * h4 * w4;
  using namespace nn;
  enc = register_module("enc", std::make_shared<Sequential>(std::initializer_list<std::shared_ptr<Module>>{
                                   std::make_shared<Conv2d>(c.channels, c.conv1, 4, 2, 1, true, gen), ReLU(),
                                   std::make_shared<Conv2d>(c.conv1, c.conv2, 4, 2, 1, true, gen), ReLU(), Flatten(),
                                   std::make_shared<Linear>(flat, c.hidden, true, gen), ReLU(),
                                   std::make_shared<Linear>(c.hidden, 2 * c.z_dim, true, gen)}));
  dec = register_module("dec", std::make_shared<Sequential>(std::initializer_list<std::shared_ptr<Module>>{
                                   std::make_shared<Linear>(c.z_dim, c.hidden, true, gen), ReLU(),
                                   std::make_shared<Linear>(c.hidden, flat, true, gen), ReLU(),
                                   Unflatten({c.conv2, h4, w4}),
                                   std::make_shared<ConvTranspose2d>(c.conv2, c.conv1, 4, 2, 1, 0, true, gen), ReLU(),
                                   std::make_shared<ConvTranspose2d>(c.conv1, c.channels, 4, 2, 1, 0, true, gen)}));
  if (c.classes > 0) {
    // Initialised as the one-hot columns of the layers they join would be.
    enc_label = register_module("enc_label", std::make_shared<Embedding>(c.classes, c.hidden, gen, flat + c.classes));
    dec_label =
        register_module("dec_label", std::make_shared<Embedding>(c.classes, c.hidden, gen, c.z_dim + c.classes));
  }
  if (c.likelihood != Likelihood::bernoulli) {
    NG_CHECK(c.sigma > 0, "vae: the Gaussian decoder's sigma must be positive, got ", c.sigma);
    log_sigma = full({}, std::log(c.sigma));
    if (c.likelihood == Likelihood::gaussian_learned)
      register_parameter("log_sigma", log_sigma);
    else
      register_buffer("log_sigma", log_sigma);
  }
}

// The encoder's layers: 0 conv 1 relu 2 conv 3 relu 4 flatten 5 linear 6 relu 7 linear;
// the decoder's: 0 linear 1 relu ... The label joins after enc[5] and dec[0].
constexpr size_t kEncoderLabelAfter = 6, kDecoderLabelAfter = 1;

std::pair<Tensor, Tensor> VAE::encode(const Tensor& x, const Labels& y) const {
  NG_CHECK(x.dim() == 4 && x.size(1) == config_.channels && x.size(2) == config_.height &&
               x.size(3) == config_.width,
           "vae: input ", shape_str(x.shape()), " does not match the model's images [N,", config_.channels, ",",
           config_.height, ",", config_.width, "]");
  check_labels(y, config_.classes, x.size(0), "vae");
  Tensor h = enc->forward_range(x, 0, kEncoderLabelAfter);
  if (conditional()) h = h + enc_label->forward(y);
  const std::vector<Tensor> halves = chunk(enc->forward_range(h, kEncoderLabelAfter, enc->size()), 2, 1);
  return {halves[0], halves[1]};
}

Tensor VAE::decode(const Tensor& z, const Labels& y) const {
  check_labels(y, config_.classes, z.size(0), "vae");
  Tensor h = dec->forward_range(z, 0, kDecoderLabelAfter);
  if (conditional()) h = h + dec_label->forward(y);
  return dec->forward_range(h, kDecoderLabelAfter, dec->size());
}

Tensor reparameterize(const Tensor& mu, const Tensor& logvar, const Tensor& eps) {
  NG_CHECK(mu.shape() == logvar.shape() && mu.shape() == eps.shape(), "reparameterize: mu ", shape_str(mu.shape()),
           ", logvar ", shape_str(logvar.shape()), " and eps ", shape_str(eps.shape()), " must have one shape");
  // One fused pass (engine/ops/fused.h) instead of five ops; on the CPU it
  // gives the bits of the composite mu + exp(logvar * 0.5) * eps, gradients
  // included (tests/cpu/test_fused.cpp checks it).
  return sample_gaussian(mu, logvar, eps);
}

ELBOTerms VAE::loss(const Tensor& x, const Tensor& eps, double beta, const Labels& y) const {
  const auto [mu, logvar] = encode(x, y);
  const Tensor decoded = decode(reparameterize(mu, logvar, eps), y);
  const double n = double(x.size(0));
  Tensor recon;
  if (config_.likelihood == Likelihood::bernoulli) {
    recon = binary_cross_entropy_with_logits(decoded, x, Reduction::sum) * (1.0 / n);
  } else {
    // -log N(x; mean, sigma^2) summed over pixels, the log-normaliser included.
    const Tensor var = exp(log_sigma * 2.0);
    recon = gaussian_nll(x, decoded, var, Reduction::sum) * (1.0 / n);
  }
  const Tensor kl = kl_normal_std_normal(mu, logvar, Reduction::sum) * (1.0 / n);
  return {recon + kl * beta, recon, kl};
}

Tensor VAE::to_image(const Tensor& decoded) const {
  if (config_.likelihood == Likelihood::bernoulli) return sigmoid(decoded);
  return clamp(decoded, 0.0, 1.0);
}

}  // namespace ng::models
