#include "models/vae_bound.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "engine/nanogen.h"
#include "models/diffusion.h"

namespace ng::models {

namespace {

void require_discrete_decoder(const VAE& model, const char* what) {
  NG_CHECK(model.config().likelihood != Likelihood::bernoulli, what,
           ": the Bernoulli decoder is not a distribution over 8-bit images (it gives a probability to pixels "
           "0 and 1 only); train with --likelihood gaussian-learned (or gaussian) for a bound");
}

// The images as doubles, each checked to be one of the levels k/255.
std::vector<double> grid_values(const Tensor& images, const char* what) {
  const std::vector<double> x = images.to_vector<double>();
  for (size_t i = 0; i < x.size(); ++i) {
    const double level = x[i] * 255.0;
    NG_CHECK(x[i] >= 0.0 && x[i] <= 1.0 && std::fabs(level - std::round(level)) <= 1e-4, what, ": pixel ", i,
             " of the images ", shape_str(images.shape()), " is ", x[i],
             ", not on the 256-level grid k/255 of [0,1] (8-bit data is needed for a probability of it)");
  }
  return x;
}

Device device_of(const VAE& model) { return model.parameters().front().device(); }

double logsumexp(const double* v, int64_t n) {
  const double m = *std::max_element(v, v + n);
  if (!std::isfinite(m)) return m;
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += std::exp(v[i] - m);
  return m + std::log(s);
}

}  // namespace

std::vector<double> discretized_log_likelihood(const VAE& model, const Tensor& images, const Tensor& decoded) {
  require_discrete_decoder(model, "discretized_log_likelihood");
  NG_CHECK(images.dim() == 4 && decoded.dim() == 4 && images.size(0) > 0 &&
               decoded.size(0) % images.size(0) == 0 &&
               decoded.numel() / decoded.size(0) == images.numel() / images.size(0),
           "discretized_log_likelihood: decoded ", shape_str(decoded.shape()),
           " must hold a whole number of decodings of each of the images ", shape_str(images.shape()));
  const std::vector<double> x = grid_values(images, "discretized_log_likelihood");
  const std::vector<double> mean = decoded.to_vector<double>();
  const int64_t D = images.numel() / images.size(0), rows = decoded.size(0), R = rows / images.size(0);
  // On [-1,1] (x' = 2x - 1) the bins are 2/255 wide and the scale doubles:
  // every bin keeps its probability, and the diffusion model's function applies.
  const double log_scale = model.log_sigma.item() + std::numbers::ln2;
  NG_CHECK(std::isfinite(std::exp(-log_scale)), "discretized_log_likelihood: the decoder's log sigma ",
           model.log_sigma.item(), " is out of range");
  for (double m : mean)
    NG_CHECK(std::isfinite(m), "discretized_log_likelihood: the decoder's mean has a non-finite value ", m);
  std::vector<double> out(size_t(rows), 0.0);
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const double* xi = x.data() + (r / R) * D;
    const double* mi = mean.data() + r * D;
    double s = 0;
    for (int64_t p = 0; p < D; ++p)
      s += discretized_gaussian_log_likelihood(2.0 * xi[p] - 1.0, 2.0 * mi[p] - 1.0, log_scale);
    out[size_t(r)] = s;
  }
  return out;
}

std::vector<double> log_importance_weights(const VAE& model, const Tensor& images, const Tensor& eps,
                                           const Labels& y) {
  NoGradGuard no_grad;
  require_discrete_decoder(model, "log_importance_weights");
  const int64_t zd = model.config().z_dim;
  NG_CHECK(images.dim() == 4 && eps.dim() == 3 && eps.size(0) == images.size(0) && eps.size(2) == zd &&
               eps.size(1) > 0,
           "log_importance_weights: eps ", shape_str(eps.shape()), " must be [N, K, ", zd, "] for the images ",
           shape_str(images.shape()));
  const Device device = device_of(model);
  const int64_t n = images.size(0), K = eps.size(1);
  const auto [mu, logvar] = model.encode(images.to(device), y);
  const Tensor e = eps.to(device);
  const Tensor z = (mu.unsqueeze(1) + exp(logvar * 0.5).unsqueeze(1) * e).reshape({n * K, zd});
  Labels y_z;  // each image's label for each of its K codes
  for (const int64_t label : y) y_z.insert(y_z.end(), size_t(K), label);
  const std::vector<double> log_px = discretized_log_likelihood(model, images, model.decode(z, y_z));

  // log N(z; 0, I) - log N(z; mu, diag(exp(logvar))): the 2 pi terms cancel,
  // and (z - mu)^2 / var = eps^2.
  const std::vector<double> zh = z.to_vector<double>(), eh = e.to_vector<double>(), lv = logvar.to_vector<double>();
  std::vector<double> log_w(size_t(n * K));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < K; ++k) {
      const int64_t r = i * K + k;
      double s = log_px[size_t(r)];
      for (int64_t j = 0; j < zd; ++j) {
        const double zj = zh[size_t(r * zd + j)], ej = eh[size_t(r * zd + j)];
        s += -0.5 * zj * zj + 0.5 * ej * ej + 0.5 * lv[size_t(i * zd + j)];
      }
      log_w[size_t(r)] = s;
    }
  return log_w;
}

IWBound importance_weighted_bound(const VAE& model, const Tensor& images, int64_t samples, Generator& gen,
                                  int64_t batch_size, const std::function<void(int64_t, int64_t)>& progress,
                                  const Labels& y) {
  NoGradGuard no_grad;
  require_discrete_decoder(model, "importance_weighted_bound");
  NG_CHECK(images.dim() == 4 && images.size(0) > 0, "importance_weighted_bound: expected images [N,C,H,W], got ",
           shape_str(images.shape()));
  NG_CHECK(samples > 0 && batch_size > 0, "importance_weighted_bound: samples (", samples, ") and batch_size (",
           batch_size, ") must be positive");
  grid_values(images, "importance_weighted_bound");  // fail before any work
  const Device device = device_of(model);
  const int64_t N = images.size(0), D = images.numel() / N, per_call = std::max<int64_t>(1, batch_size / samples);
  const double log_K = std::log(double(samples));

  // log (1/K) sum_k w_k per image, with the log-sum-exp trick.
  std::vector<double> bound;
  bound.reserve(size_t(N));
  for (int64_t start = 0; start < N; start += per_call) {
    const int64_t n = std::min(per_call, N - start);
    const Tensor eps = randn({n, samples, model.config().z_dim}, gen, TensorOptions{}.with_device(device));
    const std::vector<double> log_w =
        log_importance_weights(model, images.narrow(0, start, n), eps, slice_labels(y, start, n));
    for (int64_t i = 0; i < n; ++i) bound.push_back(logsumexp(log_w.data() + i * samples, samples) - log_K);
    if (progress) progress(start + n, N);
  }

  double mean = 0, sq = 0;
  for (double b : bound) mean += b / double(N);
  for (double b : bound) sq += (b - mean) * (b - mean);
  IWBound r;
  r.images = N;
  r.samples = samples;
  r.nats_per_image = -mean;
  r.bits_per_dim = -mean / (double(D) * std::numbers::ln2);  // eval::nats_to_bits_per_dim
  r.nats_std_error = N > 1 ? std::sqrt(sq / double(N - 1) / double(N)) : 0.0;
  return r;
}

ELBOReport evaluate_elbo(const models::VAE& model, const Tensor& images, int64_t batch_size, uint64_t seed,
                        Device device, const Labels& y) {
  NoGradGuard no_grad;
  Generator gen(seed);
  ELBOReport r;
  for (int64_t start = 0; start < images.size(0); start += batch_size) {
    const int64_t n = std::min(batch_size, images.size(0) - start);
    const Tensor x = images.narrow(0, start, n).to(device);
    const Tensor eps = randn({n, model.config().z_dim}, gen, TensorOptions{}.with_device(device));
    const models::ELBOTerms t = model.loss(x, eps, 1.0, slice_labels(y, start, n));
    r.loss += t.loss.item() * double(n);
    r.recon += t.recon.item() * double(n);
    r.kl += t.kl.item() * double(n);
    r.images += n;
  }
  if (r.images > 0) {
    r.loss /= double(r.images);
    r.recon /= double(r.images);
    r.kl /= double(r.images);
  }
  return r;
}

}  // namespace ng::models
