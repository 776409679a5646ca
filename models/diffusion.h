// Gaussian diffusion (Ho et al. 2020): the forward process, its posterior,
// the training loss, the samplers and the variational bound.
//
// Timesteps run t = 1..T. The forward process adds noise with variances
// beta_t:  q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t I),  so
//   q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I),  abar_t = prod_{s<=t} (1 - beta_s),
// with abar_0 = 1. The model eps_theta(x_t, t) predicts the noise, from which
//   x0_hat = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)
// and the reverse step's mean is the posterior mean q(x_{t-1} | x_t, x0_hat).
// Images live in [-1, 1].
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/ops/random.h"
#include "engine/tensor.h"
#include "kernels/fused_math.h"

namespace ng::models {

enum class BetaSchedule { linear, cosine };
BetaSchedule parse_beta_schedule(const std::string& s);  // "linear" | "cosine"
std::string beta_schedule_name(BetaSchedule s);

// sigma_t^2 of the reverse process p(x_{t-1} | x_t): beta_t (an upper bound on
// the true reverse variance) or the posterior's beta-tilde_t (a lower bound).
enum class ReverseVariance { beta, posterior };
ReverseVariance parse_reverse_variance(const std::string& s);  // "beta" | "posterior"
std::string reverse_variance_name(ReverseVariance v);

// eps_theta(x_t, t), one t per image: the U-Net, or an exact predictor in
// tests. t is a 1-d float64 tensor of whole steps on x_t's device, so that a
// training step's timesteps never leave the GPU.
using EpsPredictor = std::function<Tensor(const Tensor& x_t, const Tensor& t)>;

// Steps as an EpsPredictor takes them: one per image, or the same t for n images.
Tensor timestep_tensor(const std::vector<int64_t>& t, Device device);
Tensor timestep_tensor(int64_t t, int64_t n, Device device);

// The betas of a schedule, beta_1 .. beta_T, in double:
//   linear: evenly spaced from 1e-4 to 0.02 (Ho et al.; for T = 1000);
//   cosine: abar_t = f(t) / f(0), f(t) = cos^2(((t/T + s) / (1 + s)) pi/2), s = 0.008,
//           beta_t = min(1 - abar_t / abar_{t-1}, 0.999) (Nichol & Dhariwal 2021).
std::vector<double> make_betas(BetaSchedule schedule, int64_t T);

class Diffusion {
 public:
  Diffusion(BetaSchedule schedule = BetaSchedule::linear, int64_t timesteps = 1000,
            ReverseVariance variance = ReverseVariance::posterior);

  int64_t T() const { return T_; }
  BetaSchedule schedule() const { return schedule_; }
  ReverseVariance reverse_variance() const { return variance_; }

  // The tables, in double, indexed by t = 0..T (t = 0: beta 0, abar 1).
  double beta(int64_t t) const { return beta_.at(size_t(t)); }
  double alpha(int64_t t) const { return 1.0 - beta(t); }
  double abar(int64_t t) const { return abar_.at(size_t(t)); }
  // beta-tilde_t = beta_t (1 - abar_{t-1}) / (1 - abar_t), the variance of q(x_{t-1} | x_t, x_0).
  double posterior_variance(int64_t t) const;
  // sigma_t^2 of the reverse process. With the posterior variance, t = 1
  // (where beta-tilde_1 = 0) uses beta-tilde_2, as Ho et al.'s code does.
  double sigma2(int64_t t) const;

  // abar_1 .. abar_T: the schedule as the fused ops of engine/ops/fused.h take it.
  std::vector<double> alpha_bars() const { return {abar_.begin() + 1, abar_.end()}; }
  // The same tables as float32 tensors [T] (entry t-1 holds step t), for kernels.
  Tensor betas, alphas, alphas_cumprod;

  // Uniform timesteps in 1..T, one per image, drawn on `device` (nothing
  // crosses to or from the host): t = min(T, 1 + floor(u T)) with u the
  // float64 uniforms rand({n}, gen) draws, as a float64 tensor [n].
  Tensor sample_timesteps(int64_t n, Generator& gen, Device device = Device::cpu()) const;
  // q_sample's coefficients (engine/ops/fused.h, q_sample_table) in `dtype` on
  // `device`, made on first use and kept.
  Tensor q_sample_table(DType dtype, Device device) const;

  // x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps, with one t per image.
  Tensor q_sample(const Tensor& x0, const std::vector<int64_t>& t, const Tensor& eps) const;
  Tensor q_sample(const Tensor& x0, int64_t t, const Tensor& eps) const;
  // The mean of q(x_{t_prev} | x_t, x0) for a jump t -> t_prev < t (t - 1
  // for the full chain; its variance is step_posterior_variance).
  Tensor posterior_mean(const Tensor& x0, const Tensor& x_t, int64_t t, int64_t t_prev) const;
  double step_posterior_variance(int64_t t, int64_t t_prev) const;
  Tensor predict_x0(const Tensor& x_t, const Tensor& eps, int64_t t) const;

  // L_simple = mean over images and pixels of (eps - eps_theta(x_t, t))^2.
  Tensor loss(const EpsPredictor& model, const Tensor& x0, const std::vector<int64_t>& t, const Tensor& eps) const;
  // The same with eps ~ N(0, I) drawn from gen inside the fused q_sample
  // kernel (one launch for the noise and x_t; the same bits as drawing eps
  // with randn(x0.shape(), gen) and calling the loss above). t lives on x0's
  // device (sample_timesteps draws it there) and each image's coefficients
  // are gathered from q_sample_table there: the step never waits for the host.
  Tensor loss(const EpsPredictor& model, const Tensor& x0, const Tensor& t, Generator& gen) const;

  // The coefficients of one reverse step t -> t_prev (0 <= t_prev < t) for
  // the fused kernels (kernels/fused_math.h), in float64. For t_prev < t - 1
  // the jump uses beta' = 1 - abar_t / abar_t_prev (a respaced chain, Nichol &
  // Dhariwal). Ancestral: the posterior mean at x0_hat plus sigma z, sigma^2
  // the reverse variance of the jump (0 at t_prev = 0). DDIM (Song et al.
  // 2021): sigma = eta sqrt((1 - abar_prev) / (1 - abar_t)) sqrt(1 - abar_t / abar_prev).
  kernels::PSampleCoefficients<double> p_sample_coefficients(int64_t t, int64_t t_prev, bool clip) const;
  kernels::DDIMCoefficients<double> ddim_coefficients(int64_t t, int64_t t_prev, double eta, bool clip) const;

  // The same steps written with composite, differentiable ops: the readable
  // reference that the fused p_sample / ddim_step (engine/ops/fused.h) must
  // match bit for bit on the CPU. z is the step's noise (unused, and may be
  // undefined, where sigma = 0).
  //   ancestral: x_prev = x0_hat * mean_x0 + x_t * mean_xt + z * sigma
  //   DDIM:      x_prev = sqrt(abar_prev) x0_hat + sqrt(1 - abar_prev - sigma^2) eps_hat + sigma z,
  // x0_hat clamped to [-1, 1] when clip, and then eps_hat the noise
  // consistent with the clamped x0_hat (eps_pred itself without clip).
  Tensor p_sample_step(const Tensor& x_t, const Tensor& eps_pred, int64_t t, int64_t t_prev, const Tensor& z,
                       bool clip = true) const;
  Tensor ddim_step(const Tensor& x_t, const Tensor& eps_pred, int64_t t, int64_t t_prev, double eta, const Tensor& z,
                   bool clip = true) const;
  // The reverse-process mean mu_theta for the jump t -> t_prev (no clipping).
  Tensor p_mean(const Tensor& x_t, const Tensor& eps_pred, int64_t t, int64_t t_prev, bool clip = false) const;
  // The reverse variance of the jump t -> t_prev (sigma2(t) for t_prev = t - 1).
  double step_reverse_variance(int64_t t, int64_t t_prev) const;

 private:
  BetaSchedule schedule_;
  ReverseVariance variance_;
  int64_t T_;
  std::vector<double> beta_, abar_;  // index 0..T
  mutable std::vector<Tensor> q_sample_tables_;  // one per dtype and device used so far
};

// ---- sampling -------------------------------------------------------------------

enum class Sampler { ancestral, ddim };
Sampler parse_sampler(const std::string& s);  // "ancestral" | "ddim"

// The K timesteps a K-step sampler visits, ascending: round(i T / K) for
// i = 1..K (so the last is T); K = 0 or K >= T gives all of 1..T.
std::vector<int64_t> sampling_timesteps(int64_t T, int64_t steps);

struct SamplerOptions {
  Sampler sampler = Sampler::ancestral;
  int64_t steps = 0;    // 0: every timestep
  double eta = 0.0;     // DDIM only
  bool clip = true;     // clamp x0_hat to [-1, 1] in each step
  int64_t snapshots = 0;        // > 1: keep this many states x_T .. x_0, evenly spaced
  int64_t snapshot_images = 8;  // of the first this many images
  std::function<void(int64_t done, int64_t total)> progress;  // called after each step
};

struct SampleResult {
  Tensor x0;                       // [N,C,H,W], unclipped, roughly in [-1, 1]
  std::vector<Tensor> trajectory;  // the snapshots, on the CPU, x_T first
};

// Runs the reverse process from x_T. Noise z comes from gen.
SampleResult sample(const Diffusion& diffusion, const EpsPredictor& model, const Tensor& x_T,
                    const SamplerOptions& options, Generator& gen);

// ---- the variational bound --------------------------------------------------------

// log Phi(z), the log of the standard normal CDF, accurate far into both tails.
double log_ndtr(double z);
// log(Phi(b) - Phi(a)) for a < b (either may be infinite), without cancellation.
double log_ndtr_diff(double a, double b);
// log P(x) of the discretised Gaussian decoder: x is one of the 256 levels
// 2k/255 - 1 of [-1, 1], its bin [x - 1/255, x + 1/255], widened to -inf at
// x = -1 and to +inf at x = 1, under N(mean, exp(log_scale)^2).
double discretized_gaussian_log_likelihood(double x, double mean, double log_scale);

// The variational bound (Ho et al. 2020, eq. 5) in bits per dimension:
//   L = L_T + sum_{t=2}^T L_t + L_0,
//   L_T = KL(q(x_T | x0) || N(0, I)),
//   L_t = KL(q(x_{t-1} | x_t, x0) || p_theta(x_{t-1} | x_t)), x_t ~ q(x_t | x0),
//   L_0 = -log p_theta(x0 | x1) with the discretised Gaussian decoder,
// each in nats per image divided by D ln 2 (D = C H W), averaged over images.
//
// The sum over t is estimated from `timesteps` terms: 2..T is cut into that
// many contiguous strata S_k (geometrically growing by default, so that the
// small t, where L_t is large and changes fastest, get strata of one or a few
// steps; or of equal size), one t_k is taken from each (uniformly at random
// when stratified, else the stratum's middle) and
//   sum_t L_t ~ sum_k |S_k| L_{t_k}.
// Stratified, this is unbiased; with timesteps = 0 (or >= T - 1) every t is
// evaluated and the sum is exact up to the one noise sample x_t per (image, t).
struct BoundOptions {
  int64_t timesteps = 0;
  bool stratified = true;
  bool log_strata = true;    // geometric strata (else of equal size)
  uint64_t seed = 0;         // the x_t noise and the stratified t
  int64_t batch_size = 256;  // images per model call
  std::function<void(int64_t done, int64_t total)> progress;
};

struct BoundTerms {
  double prior = 0;      // L_T
  double diffusion = 0;  // sum_{t=2}^T L_t (estimated)
  double decoder = 0;    // L_0
  double total = 0;      // their sum, bits/dim
  std::vector<std::pair<int64_t, double>> per_t;  // each evaluated t and its L_t
  int64_t images = 0;
};

// The strata's edges: strata + 1 ascending values from 2 to T + 1, stratum k
// being [edges[k], edges[k+1]) (strata <= 0 or >= T - 1: one per t).
std::vector<int64_t> bound_strata(int64_t T, int64_t strata, bool log_spaced);

// x0: images in [-1, 1] on the 256-level grid, [N,C,H,W].
BoundTerms variational_bound(const Diffusion& diffusion, const EpsPredictor& model, const Tensor& x0,
                             const BoundOptions& options);

}  // namespace ng::models
