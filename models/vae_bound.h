// The importance-weighted bound (Burda et al. 2016) on log p(x) of 8-bit
// images under a VAE:
//
//   log p(x) >= E[ log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x) ],  z_k ~ q(z|x),
//
// K = 1 being the ELBO; the bound tightens as K grows and reaches log p(x) as
// K -> infinity. p(x|z) must be a probability of 8-bit data, so the Gaussian
// decoders are read as DISCRETISED Gaussians: a pixel x = k/255 gets the mass
// of N(mean, sigma^2) on its bin [x - 1/510, x + 1/510], the bins of 0 and 1
// widened to -inf and +inf (models/diffusion.h's discretized_gaussian_log_likelihood,
// on [-1,1] data; the affine map to [0,1] leaves every bin's mass unchanged).
// The Bernoulli decoder is not a distribution over 8-bit images: an error.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "engine/ops/random.h"
#include "models/vae.h"

namespace ng::models {

// log p(x | decoder output) in nats, one number per row of `decoded`.
// images [N,C,H,W] on the 256-level grid of [0,1]; decoded [N*R,C,H,W], the
// Gaussian means of R decodings per image, row m belonging to image m / R.
std::vector<double> discretized_log_likelihood(const VAE& model, const Tensor& images, const Tensor& decoded);

// log w_nk = log p(x_n|z_nk) + log p(z_nk) - log q(z_nk|x_n), z_nk = mu_n +
// exp(logvar_n / 2) eps_nk, for the given noise eps [N,K,z]: N*K numbers,
// image-major. Their mean over k estimates the ELBO of the discretised decoder.
// A conditional model takes the images' labels y and bounds log p(x | y).
std::vector<double> log_importance_weights(const VAE& model, const Tensor& images, const Tensor& eps,
                                           const Labels& y = {});

struct IWBound {
  double nats_per_image = 0;  // -(the bound on log p(x)), averaged over the images
  double bits_per_dim = 0;    // the same in bits per dimension: nats / (C H W ln 2)
  double nats_std_error = 0;  // the standard error of that mean over the images
  int64_t images = 0;
  int64_t samples = 0;        // K
};

// The bound for images [N,C,H,W] in [0,1] on the 256-level grid (on any
// device; the model's device does the work), with K = samples importance
// samples per image drawn from gen. batch_size: decodings (image x sample
// pairs) per decoder call; each call takes max(1, batch_size / K) whole
// images (1024 is the fastest on a CPU; a GPU wants more). Successive calls
// continue one stream of gen, so when K z_dim is a multiple of 4 (whole
// Philox blocks a call) the split does not change the result. Runs without
// autograd. A conditional model takes the images' labels y (log p(x | y)).
IWBound importance_weighted_bound(const VAE& model, const Tensor& images, int64_t samples, Generator& gen,
                                  int64_t batch_size = 1024,
                                  const std::function<void(int64_t done, int64_t total)>& progress = {},
                                  const Labels& y = {});

// Per-image averages in nats over a data set, evaluated in eval mode with a
// fixed noise stream.
struct ELBOReport {
  double loss = 0, recon = 0, kl = 0;
  int64_t images = 0;
};

// Evaluates the negative ELBO of a model over images [N,C,H,W] in [0,1]
// (with their labels y when the model is conditional).
ELBOReport evaluate_elbo(const models::VAE& model, const Tensor& images, int64_t batch_size, uint64_t seed,
                        Device device, const Labels& y = {});

}  // namespace ng::models
