#include "models/diffusion.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <set>

#include "engine/nanogen.h"

namespace ng::models {

BetaSchedule parse_beta_schedule(const std::string& s) {
  if (s == "linear") return BetaSchedule::linear;
  if (s == "cosine") return BetaSchedule::cosine;
  throw Error("diffusion: schedule '" + s + "' is not known; expected linear or cosine");
}

std::string beta_schedule_name(BetaSchedule s) { return s == BetaSchedule::linear ? "linear" : "cosine"; }

ReverseVariance parse_reverse_variance(const std::string& s) {
  if (s == "beta") return ReverseVariance::beta;
  if (s == "posterior") return ReverseVariance::posterior;
  throw Error("diffusion: reverse variance '" + s + "' is not known; expected beta or posterior");
}

std::string reverse_variance_name(ReverseVariance v) { return v == ReverseVariance::beta ? "beta" : "posterior"; }

Sampler parse_sampler(const std::string& s) {
  if (s == "ancestral") return Sampler::ancestral;
  if (s == "ddim") return Sampler::ddim;
  throw Error("diffusion: sampler '" + s + "' is not known; expected ancestral or ddim");
}

std::vector<double> make_betas(BetaSchedule schedule, int64_t T) {
  NG_CHECK(T >= 2, "diffusion: the number of timesteps must be at least 2, got ", T);
  std::vector<double> betas(static_cast<size_t>(T));
  if (schedule == BetaSchedule::linear) {
    // Ho et al.'s 1e-4 .. 0.02 for T = 1000, scaled by 1000 / T for other T
    // (as Nichol & Dhariwal do) so that abar_T stays near zero.
    const double scale = 1000.0 / double(T), lo = scale * 1e-4, hi = scale * 0.02;
    for (int64_t i = 0; i < T; ++i)
      betas[size_t(i)] = std::min(0.999, lo + (hi - lo) * double(i) / double(T - 1));
  } else {
    const double s = 0.008;
    auto f = [&](double t) {
      const double c = std::cos((t / double(T) + s) / (1.0 + s) * std::numbers::pi / 2);
      return c * c;
    };
    for (int64_t i = 0; i < T; ++i) betas[size_t(i)] = std::min(1.0 - f(double(i + 1)) / f(double(i)), 0.999);
  }
  return betas;
}

// ---- the process ----------------------------------------------------------------

Diffusion::Diffusion(BetaSchedule schedule, int64_t timesteps, ReverseVariance variance)
    : schedule_(schedule), variance_(variance), T_(timesteps) {
  const std::vector<double> b = make_betas(schedule, timesteps);
  beta_.assign(1, 0.0);
  abar_.assign(1, 1.0);
  for (double v : b) {
    beta_.push_back(v);
    abar_.push_back(abar_.back() * (1.0 - v));
  }
  std::vector<float> fb, fa, fab;
  for (int64_t t = 1; t <= T_; ++t) {
    fb.push_back(float(beta(t)));
    fa.push_back(float(alpha(t)));
    fab.push_back(float(abar(t)));
  }
  betas = from_vector(fb, {T_});
  alphas = from_vector(fa, {T_});
  alphas_cumprod = from_vector(fab, {T_});
}

double Diffusion::posterior_variance(int64_t t) const {
  NG_CHECK(t >= 1 && t <= T_, "diffusion: timestep ", t, " is outside 1..", T_);
  return beta(t) * (1.0 - abar(t - 1)) / (1.0 - abar(t));
}

double Diffusion::sigma2(int64_t t) const {
  NG_CHECK(t >= 1 && t <= T_, "diffusion: timestep ", t, " is outside 1..", T_);
  if (variance_ == ReverseVariance::beta) return beta(t);
  return posterior_variance(t == 1 ? 2 : t);
}

namespace {

void check_jump(int64_t t, int64_t t_prev, int64_t T) {
  NG_CHECK(t >= 1 && t <= T && t_prev >= 0 && t_prev < t, "diffusion: the step ", t, " -> ", t_prev,
           " is not a reverse step within 0..", T);
}

// The per-image coefficients table[t_i] as a [N,1,1,1] tensor like x.
Tensor per_image(const std::vector<double>& values, const Tensor& like) {
  Shape shape(size_t(like.dim()), 1);
  shape[0] = int64_t(values.size());
  return from_vector(values, shape).to(like.dtype()).to(like.device());
}

}  // namespace

Tensor timestep_tensor(const std::vector<int64_t>& t, Device device) {
  return index_tensor(t, TensorOptions{}.with_dtype(DType::f64).with_device(device));
}

Tensor timestep_tensor(int64_t t, int64_t n, Device device) {
  return full({n}, double(t), TensorOptions{}.with_dtype(DType::f64).with_device(device));
}

Tensor Diffusion::sample_timesteps(int64_t n, Generator& gen, Device device) const {
  const Tensor u = rand({n}, gen, TensorOptions{}.with_dtype(DType::f64).with_device(device));
  // u < 1, so floor(u T) + 1 <= T in exact arithmetic; the clamp catches u T rounding up to T.
  return clamp(floor(u * double(T_)) + 1.0, 1.0, double(T_));
}

Tensor Diffusion::q_sample_table(DType dtype, Device device) const {
  for (const Tensor& table : q_sample_tables_)
    if (table.dtype() == dtype && table.device() == device) return table;
  return q_sample_tables_.emplace_back(ng::q_sample_table(alpha_bars(), dtype, device));
}

Tensor Diffusion::q_sample(const Tensor& x0, const std::vector<int64_t>& t, const Tensor& eps) const {
  NG_CHECK(x0.shape() == eps.shape(), "q_sample: x0 ", shape_str(x0.shape()), " and eps ", shape_str(eps.shape()),
           " must have one shape");
  NG_CHECK(x0.dim() >= 1 && int64_t(t.size()) == x0.size(0), "q_sample: ", t.size(), " timesteps for x0 ",
           shape_str(x0.shape()), "; expected one per image");
  std::vector<double> a, b;
  for (int64_t ti : t) {
    NG_CHECK(ti >= 1 && ti <= T_, "q_sample: timestep ", ti, " is outside 1..", T_);
    a.push_back(std::sqrt(abar(ti)));
    b.push_back(std::sqrt(1.0 - abar(ti)));
  }
  return per_image(a, x0) * x0 + per_image(b, x0) * eps;
}

Tensor Diffusion::q_sample(const Tensor& x0, int64_t t, const Tensor& eps) const {
  return q_sample(x0, std::vector<int64_t>(size_t(x0.size(0)), t), eps);
}

namespace {

// beta of the jump t -> t_prev: beta_t for one step, 1 - abar_t / abar_prev for a longer one.
double jump_beta(const Diffusion& d, int64_t t, int64_t t_prev) {
  return t_prev == t - 1 ? d.beta(t) : 1.0 - d.abar(t) / d.abar(t_prev);
}

}  // namespace

double Diffusion::step_posterior_variance(int64_t t, int64_t t_prev) const {
  check_jump(t, t_prev, T_);
  return jump_beta(*this, t, t_prev) * (1.0 - abar(t_prev)) / (1.0 - abar(t));
}

double Diffusion::step_reverse_variance(int64_t t, int64_t t_prev) const {
  check_jump(t, t_prev, T_);
  if (t_prev == t - 1) return sigma2(t);
  return variance_ == ReverseVariance::beta ? jump_beta(*this, t, t_prev) : step_posterior_variance(t, t_prev);
}

Tensor Diffusion::posterior_mean(const Tensor& x0, const Tensor& x_t, int64_t t, int64_t t_prev) const {
  const kernels::PSampleCoefficients<double> c = p_sample_coefficients(t, t_prev, false);
  return x0 * c.mean_x0 + x_t * c.mean_xt;
}

Tensor Diffusion::predict_x0(const Tensor& x_t, const Tensor& eps, int64_t t) const {
  NG_CHECK(t >= 1 && t <= T_, "diffusion: timestep ", t, " is outside 1..", T_);
  return x_t * std::sqrt(1.0 / abar(t)) - eps * std::sqrt(1.0 / abar(t) - 1.0);
}

Tensor Diffusion::loss(const EpsPredictor& model, const Tensor& x0, const std::vector<int64_t>& t,
                       const Tensor& eps) const {
  return mse_loss(model(q_sample(x0, t, eps), timestep_tensor(t, x0.device())), eps);
}

Tensor Diffusion::loss(const EpsPredictor& model, const Tensor& x0, const Tensor& t, Generator& gen) const {
  const NoisedSample s = ng::q_sample(x0, t, q_sample_table(x0.dtype(), x0.device()), gen);
  return mse_loss(model(s.x_t, t), s.eps);
}

kernels::PSampleCoefficients<double> Diffusion::p_sample_coefficients(int64_t t, int64_t t_prev, bool clip) const {
  check_jump(t, t_prev, T_);
  const double b = jump_beta(*this, t, t_prev);
  kernels::PSampleCoefficients<double> c;
  c.x0_from_xt = std::sqrt(1.0 / abar(t));
  c.x0_from_eps = std::sqrt(1.0 / abar(t) - 1.0);
  c.mean_x0 = std::sqrt(abar(t_prev)) * b / (1.0 - abar(t));
  c.mean_xt = std::sqrt(1.0 - b) * (1.0 - abar(t_prev)) / (1.0 - abar(t));
  c.sigma = t_prev == 0 ? 0.0 : std::sqrt(step_reverse_variance(t, t_prev));
  c.clip = clip;
  return c;
}

kernels::DDIMCoefficients<double> Diffusion::ddim_coefficients(int64_t t, int64_t t_prev, double eta, bool clip) const {
  check_jump(t, t_prev, T_);
  NG_CHECK(eta >= 0, "ddim_step: eta must be non-negative, got ", eta);
  const double ab = abar(t), ab_prev = abar(t_prev);
  const double s = eta * std::sqrt((1.0 - ab_prev) / (1.0 - ab)) * std::sqrt(1.0 - ab / ab_prev);
  kernels::DDIMCoefficients<double> c;
  c.x0_from_xt = std::sqrt(1.0 / ab);
  c.x0_from_eps = std::sqrt(1.0 / ab - 1.0);
  c.sqrt_alpha_bar = std::sqrt(ab);
  c.inv_sqrt_one_minus_alpha_bar = 1.0 / std::sqrt(1.0 - ab);
  c.sqrt_alpha_bar_prev = std::sqrt(ab_prev);
  c.direction = std::sqrt(std::max(0.0, 1.0 - ab_prev - s * s));  // rounding may leave -1e-17 for eta = 1
  c.sigma = s;
  c.clip = clip;
  return c;
}

namespace {

void check_step_shapes(const char* op, const Tensor& x_t, const Tensor& eps_pred) {
  NG_CHECK(x_t.shape() == eps_pred.shape(), op, ": x_t ", shape_str(x_t.shape()), " and the predicted noise ",
           shape_str(eps_pred.shape()), " must have one shape");
}

void check_noise(const char* op, const Tensor& z, const Tensor& x_t) {
  NG_CHECK(z.defined() && z.shape() == x_t.shape(), op, ": the noise z ",
           z.defined() ? shape_str(z.shape()) : "(undefined)", " must have x_t's shape ", shape_str(x_t.shape()));
}

// x0_hat = x_t * x0_from_xt - eps * x0_from_eps, clamped to [-1, 1] when clip.
Tensor clean_image(const Tensor& x_t, const Tensor& eps_pred, double x0_from_xt, double x0_from_eps, bool clip) {
  const Tensor x0 = x_t * x0_from_xt - eps_pred * x0_from_eps;
  return clip ? clamp(x0, -1.0, 1.0) : x0;
}

// The ancestral step's mean: the posterior mean at x0_hat.
Tensor ancestral_mean(const Tensor& x_t, const Tensor& eps_pred, const kernels::PSampleCoefficients<double>& c) {
  return clean_image(x_t, eps_pred, c.x0_from_xt, c.x0_from_eps, c.clip) * c.mean_x0 + x_t * c.mean_xt;
}

}  // namespace

Tensor Diffusion::p_mean(const Tensor& x_t, const Tensor& eps_pred, int64_t t, int64_t t_prev, bool clip) const {
  check_step_shapes("diffusion", x_t, eps_pred);
  return ancestral_mean(x_t, eps_pred, p_sample_coefficients(t, t_prev, clip));
}

Tensor Diffusion::p_sample_step(const Tensor& x_t, const Tensor& eps_pred, int64_t t, int64_t t_prev, const Tensor& z,
                                bool clip) const {
  check_step_shapes("p_sample_step", x_t, eps_pred);
  const kernels::PSampleCoefficients<double> c = p_sample_coefficients(t, t_prev, clip);
  const Tensor mean = ancestral_mean(x_t, eps_pred, c);
  if (c.sigma == 0) return mean;
  check_noise("p_sample_step", z, x_t);
  return mean + z * c.sigma;
}

Tensor Diffusion::ddim_step(const Tensor& x_t, const Tensor& eps_pred, int64_t t, int64_t t_prev, double eta,
                            const Tensor& z, bool clip) const {
  check_step_shapes("ddim_step", x_t, eps_pred);
  const kernels::DDIMCoefficients<double> c = ddim_coefficients(t, t_prev, eta, clip);
  const Tensor x0 = clean_image(x_t, eps_pred, c.x0_from_xt, c.x0_from_eps, clip);
  // With clip, the noise consistent with the clamped x0_hat (as improved-diffusion's DDIM does).
  const Tensor eps = clip ? (x_t - x0 * c.sqrt_alpha_bar) * c.inv_sqrt_one_minus_alpha_bar : eps_pred;
  const Tensor out = x0 * c.sqrt_alpha_bar_prev + eps * c.direction;
  if (c.sigma == 0) return out;
  check_noise("ddim_step", z, x_t);
  return out + z * c.sigma;
}

// ---- sampling -------------------------------------------------------------------

std::vector<int64_t> sampling_timesteps(int64_t T, int64_t steps) {
  NG_CHECK(steps >= 0, "sampling: the number of steps must be non-negative, got ", steps);
  const int64_t k = steps == 0 || steps >= T ? T : steps;
  std::vector<int64_t> ts;
  for (int64_t i = 1; i <= k; ++i) {
    const int64_t t = std::max<int64_t>(1, std::llround(double(i) * double(T) / double(k)));
    if (ts.empty() || t > ts.back()) ts.push_back(t);
  }
  return ts;
}

SampleResult sample(const Diffusion& d, const EpsPredictor& model, const Tensor& x_T, const SamplerOptions& o,
                    Generator& gen) {
  NoGradGuard no_grad;
  const std::vector<int64_t> ts = sampling_timesteps(d.T(), o.steps);
  const int64_t K = int64_t(ts.size()), n = x_T.size(0);
  std::set<int64_t> snap_at;  // after how many steps to keep a snapshot (0: x_T)
  if (o.snapshots > 1)
    for (int64_t k = 0; k < o.snapshots; ++k) snap_at.insert(std::llround(double(k) * double(K) / double(o.snapshots - 1)));
  SampleResult r;
  auto keep = [&](const Tensor& x) {
    r.trajectory.push_back(x.narrow(0, 0, std::min(o.snapshot_images, n)).to(Device::cpu()));
  };
  Tensor x = x_T;
  if (snap_at.count(0)) keep(x);
  for (int64_t s = K - 1; s >= 0; --s) {
    const int64_t t = ts[size_t(s)], t_prev = s > 0 ? ts[size_t(s - 1)] : 0;
    const Tensor eps = model(x, timestep_tensor(t, n, x.device()));
    // One fused pass a step; the noise, when the step has any, drawn in it.
    x = o.sampler == Sampler::ancestral ? ng::p_sample(x, eps, d.p_sample_coefficients(t, t_prev, o.clip), gen)
                                        : ng::ddim_step(x, eps, d.ddim_coefficients(t, t_prev, o.eta, o.clip), gen);
    const int64_t done = K - s;
    if (o.progress) o.progress(done, K);
    if (snap_at.count(done)) keep(x);
  }
  r.x0 = x;
  return r;
}

// ---- the variational bound --------------------------------------------------------

double log_ndtr(double z) {
  if (z > 0) return std::log1p(-0.5 * std::erfc(z / std::numbers::sqrt2));
  // erfc stays a normal double down to z = -37; below -35 use the asymptotic
  // series Phi(z) = phi(z)/|z| (1 - 1/z^2 + 3/z^4 - 15/z^6 + 105/z^8 ...),
  // whose next term is below 1e-12 there.
  if (z > -35) return std::log(0.5 * std::erfc(-z / std::numbers::sqrt2));
  const double w = 1.0 / (z * z);
  const double series = 1.0 - w * (1.0 - w * (3.0 - w * (15.0 - w * 105.0)));
  return -0.5 * z * z - std::log(-z) - 0.5 * std::log(2 * std::numbers::pi) + std::log(series);
}

double log_ndtr_diff(double a, double b) {
  NG_CHECK(a < b, "log_ndtr_diff: needs a < b, got ", a, " and ", b);
  if (std::isinf(a)) return log_ndtr(b);   // a = -inf
  if (std::isinf(b)) return log_ndtr(-a);  // b = +inf
  if (a >= 0) return log_ndtr_diff(-b, -a);  // mirror into the left half
  if (b <= 0) {
    // Both in the left tail: Phi(b) (1 - Phi(a)/Phi(b)), the ratio through logs.
    const double lb = log_ndtr(b);
    return lb + std::log(-std::expm1(log_ndtr(a) - lb));
  }
  // Straddling 0: the two tails left out are each at most 1/2.
  return std::log1p(-0.5 * std::erfc(-a / std::numbers::sqrt2) - 0.5 * std::erfc(b / std::numbers::sqrt2));
}

double discretized_gaussian_log_likelihood(double x, double mean, double log_scale) {
  const double inv_scale = std::exp(-log_scale), half_bin = 1.0 / 255.0;
  const double lo = x < -0.999 ? -INFINITY : (x - half_bin - mean) * inv_scale;
  const double hi = x > 0.999 ? INFINITY : (x + half_bin - mean) * inv_scale;
  return log_ndtr_diff(lo, hi);
}

std::vector<int64_t> bound_strata(int64_t T, int64_t strata, bool log_spaced) {
  const int64_t terms = T - 1;
  const int64_t K = strata <= 0 || strata >= terms ? terms : strata;
  std::vector<int64_t> edges{2};
  for (int64_t k = 1; k <= K; ++k) {
    // Geometric: edge k at 2 ((T+1)/2)^(k/K); even: 2 + k (T-1)/K. Each
    // stratum keeps at least one t and leaves at least one for each after it.
    const int64_t e = log_spaced ? std::llround(2.0 * std::pow(double(T + 1) / 2.0, double(k) / double(K)))
                                 : 2 + k * terms / K;
    edges.push_back(std::clamp(e, edges.back() + 1, T + 1 - (K - k)));
  }
  return edges;
}

BoundTerms variational_bound(const Diffusion& d, const EpsPredictor& model, const Tensor& x0_all,
                             const BoundOptions& o) {
  NoGradGuard no_grad;
  NG_CHECK(x0_all.dim() == 4 && x0_all.size(0) > 0, "variational_bound: expected images [N,C,H,W], got ",
           shape_str(x0_all.shape()));
  NG_CHECK(o.batch_size > 0, "variational_bound: batch_size must be positive, got ", o.batch_size);
  const int64_t T = d.T();
  Generator gen(o.seed);

  // The strata of 2..T and the t evaluated in each.
  const std::vector<int64_t> edges = bound_strata(T, o.timesteps, o.log_strata);
  std::vector<int64_t> ts, weights;
  const std::vector<double> u =
      rand({int64_t(edges.size()) - 1}, gen, TensorOptions{}.with_dtype(DType::f64)).to_vector<double>();
  for (size_t k = 0; k + 1 < edges.size(); ++k) {
    const int64_t lo = edges[k], hi = edges[k + 1] - 1, n = hi - lo + 1;
    ts.push_back(o.stratified ? std::min(hi, lo + int64_t(u[k] * double(n))) : (lo + hi) / 2);
    weights.push_back(n);
  }

  const int64_t N = x0_all.size(0), D = x0_all.numel() / N;
  const int64_t batches = (N + o.batch_size - 1) / o.batch_size;
  double prior = 0, decoder = 0;
  std::vector<double> per_t(ts.size(), 0.0);
  int64_t done = 0;
  const double abar_T = d.abar(T);
  for (int64_t start = 0; start < N; start += o.batch_size) {
    const int64_t n = std::min(o.batch_size, N - start);
    const Tensor x0 = x0_all.narrow(0, start, n);
    const std::vector<double> x0_host = x0.to_vector<double>();

    // L_T: KL(N(sqrt(abar_T) x0, 1 - abar_T) || N(0, 1)), per pixel.
    for (double x : x0_host) prior += 0.5 * (abar_T * x * x + (1.0 - abar_T) - 1.0 - std::log(1.0 - abar_T));

    // L_t: a KL between Gaussians with scalar variances.
    for (size_t k = 0; k < ts.size(); ++k) {
      const int64_t t = ts[k];
      const Tensor x_t = d.q_sample(x0, t, randn(x0.shape(), gen, x0.options()));
      const Tensor eps = model(x_t, timestep_tensor(t, n, x0.device()));
      const double vq = d.posterior_variance(t), vp = d.sigma2(t);
      const double sq = sum(square(d.posterior_mean(x0, x_t, t, t - 1) - d.p_mean(x_t, eps, t, t - 1))).item();
      per_t[k] += 0.5 * (double(n * D) * (std::log(vp / vq) + vq / vp - 1.0) + sq / vp);
      if (o.progress) o.progress(++done, batches * (int64_t(ts.size()) + 1));
    }

    // L_0: the discretised Gaussian decoder at the mean predicted from x_1.
    const Tensor x_1 = d.q_sample(x0, 1, randn(x0.shape(), gen, x0.options()));
    const Tensor mean = d.p_mean(x_1, model(x_1, timestep_tensor(1, n, x0.device())), 1, 0);
    const std::vector<double> mean_host = mean.to_vector<double>();
    const double log_scale = 0.5 * std::log(d.sigma2(1));
    for (size_t i = 0; i < x0_host.size(); ++i)
      decoder -= discretized_gaussian_log_likelihood(x0_host[i], mean_host[i], log_scale);
    if (o.progress) o.progress(++done, batches * (int64_t(ts.size()) + 1));
  }

  const double to_bpd = 1.0 / (double(N) * double(D) * std::numbers::ln2);
  BoundTerms r;
  r.images = N;
  r.prior = prior * to_bpd;
  r.decoder = decoder * to_bpd;
  for (size_t k = 0; k < ts.size(); ++k) {
    r.per_t.emplace_back(ts[k], per_t[k] * to_bpd);
    r.diffusion += double(weights[k]) * per_t[k] * to_bpd;
  }
  r.total = r.prior + r.diffusion + r.decoder;
  return r;
}

}  // namespace ng::models
