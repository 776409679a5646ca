#include "engine/ops/fused.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "engine/autograd.h"
#include "engine/cpu/fused.h"
#include "engine/ops/dispatch.h"
#include "engine/ops/elementwise.h"

namespace ng {

using Grads = std::vector<Tensor>;

// ---- the VAE's reparameterised sample ----------------------------------------------

namespace {

void check_gaussian_args(const Tensor& mu, const Tensor& logvar, const Tensor* eps) {
  NG_CHECK(mu.defined() && logvar.defined() && (!eps || eps->defined()),
           "sample_gaussian: mu, logvar and eps must be defined tensors");
  NG_CHECK(mu.shape() == logvar.shape() && (!eps || eps->shape() == mu.shape()), "sample_gaussian: mu ",
           shape_str(mu.shape()), ", logvar ", shape_str(logvar.shape()),
           eps ? ", eps " + shape_str(eps->shape()) : std::string(), " must have one shape");
  check_same_dtype_device("sample_gaussian", {mu, logvar, eps ? *eps : Tensor()});
}

// The logvar gradient of z = mu + eps * exp(logvar / 2) for an output
// gradient g: g * eps * exp(logvar / 2) / 2, by the fused kernel. As an op it
// is differentiable again; for a gradient gg of it:
//   g: the same op of gg;  logvar: half the same op of gg * g;  eps: gg * g * exp(logvar / 2) / 2
Tensor gaussian_logvar_grad(const Tensor& g, const Tensor& logvar, const Tensor& eps) {
  Tensor dlogvar = empty(logvar.shape(), logvar.options());
  const Tensor gc = g.detach().contiguous(), lvc = logvar.detach().contiguous(), ec = eps.detach().contiguous();
  if (g.device().is_cpu())
    cpu::reparam_backward(dlogvar, gc, lvc, ec);
  else
    NG_ON_CUDA("sample_gaussian", cuda::reparam_backward(dlogvar, gc, lvc, ec), g, logvar);
  return record("SampleGaussianLogvarGradBackward", dlogvar, {g, logvar, eps},
                [need = std::vector<bool>{needs_grad({g}), needs_grad({logvar}), needs_grad({eps})},
                 sg = SavedTensor(g), slv = SavedTensor(logvar), seps = SavedTensor(eps)](const Tensor& gg) {
                  const Tensor g_ = sg.get(), lv = slv.get(), e = seps.get();
                  Grads out(3);
                  if (need[0]) out[0] = gaussian_logvar_grad(gg, lv, e);
                  if (need[1]) out[1] = gaussian_logvar_grad(gg * g_, lv, e) * 0.5;
                  if (need[2]) out[2] = gg * g_ * exp(lv * 0.5) * 0.5;
                  return out;
                });
}

// Runs the forward kernel and records the backward. `eps` is the caller's
// tensor (an input of the op) or, when `draw`, the fresh tensor the kernel
// fills (an output: it gets no gradient).
//   d mu = g;  d logvar = g eps exp(logvar / 2) / 2;  d eps = g exp(logvar / 2)
Tensor gaussian_forward(const Tensor& mu, const Tensor& logvar, const Tensor& eps, bool draw, uint64_t seed,
                        uint64_t offset) {
  const Tensor mu_c = mu.detach().contiguous(), lv_c = logvar.detach().contiguous();
  const Tensor eps_c = draw ? eps : eps.detach().contiguous();
  Tensor z = empty(mu.shape(), mu.options());
  if (z.device().is_cpu())
    cpu::reparam_forward(z, eps_c, mu_c, lv_c, draw, seed, offset);
  else
    NG_ON_CUDA("sample_gaussian", cuda::reparam_forward(z, eps_c, mu_c, lv_c, draw, seed, offset), mu, logvar);
  const bool eps_is_input = !draw;
  const bool need_logvar = needs_grad({logvar}), need_eps = eps_is_input && needs_grad({eps});
  std::vector<Tensor> inputs{mu, logvar};
  if (eps_is_input) inputs.push_back(eps);
  return record("SampleGaussianBackward", z, inputs,
                [slv = SavedTensor(logvar), seps = SavedTensor(eps), eps_is_input, need_logvar,
                 need_eps](const Tensor& g) {
                  const Tensor lv = slv.get(), e = seps.get();
                  Grads grads{g, need_logvar ? gaussian_logvar_grad(g, lv, e) : Tensor()};
                  if (eps_is_input) grads.push_back(need_eps ? g * exp(lv * 0.5) : Tensor());
                  return grads;
                });
}

}  // namespace

Tensor sample_gaussian(const Tensor& mu, const Tensor& logvar, const Tensor& eps) {
  check_gaussian_args(mu, logvar, &eps);
  return gaussian_forward(mu, logvar, eps, false, 0, 0);
}

GaussianSample sample_gaussian(const Tensor& mu, const Tensor& logvar, Generator& gen) {
  check_gaussian_args(mu, logvar, nullptr);
  Tensor eps = empty(mu.shape(), mu.options());
  const uint64_t seed = gen.seed(), offset = gen.take(eps.numel());
  Tensor z = gaussian_forward(mu, logvar, eps, true, seed, offset);
  return {z, eps};
}

// ---- diffusion -------------------------------------------------------------------------

namespace {

void check_alpha_bar(const char* op, double abar, const char* what) {
  NG_CHECK(abar > 0.0 && abar <= 1.0, op, ": ", what, " = ", abar, " must lie in (0, 1]");
}

void check_step_args(const char* op, const Tensor& x_t, const Tensor& eps_pred) {
  NG_CHECK(x_t.defined() && eps_pred.defined(), op, ": x_t and eps_pred must be defined tensors");
  NG_CHECK(x_t.shape() == eps_pred.shape(), op, ": x_t ", shape_str(x_t.shape()), " and eps_pred ",
           shape_str(eps_pred.shape()), " must have one shape");
  check_same_dtype_device(op, {x_t, eps_pred});
}

}  // namespace

NoisedSample q_sample(const Tensor& x0, const Tensor& t, const std::vector<double>& alpha_bar, Generator& gen) {
  NG_CHECK(x0.defined() && t.defined(), "q_sample: x0 and t must be defined tensors");
  NG_CHECK(x0.dim() >= 1, "q_sample: x0 must be a batch [N, ...], got shape ", shape_str(x0.shape()));
  const int64_t n = x0.size(0);
  NG_CHECK(t.dim() == 1 && t.size(0) == n, "q_sample: t ", shape_str(t.shape()), " must hold one step per sample of x0 ",
           shape_str(x0.shape()), ", i.e. have shape [", n, "]");
  NG_CHECK(t.device().is_cpu() || t.device() == x0.device(), "q_sample: t is on ", t.device().str(), ", x0 on ",
           x0.device().str(), "; t must be on the CPU or on x0's device");
  NG_CHECK(!alpha_bar.empty(), "q_sample: the schedule alpha_bar is empty");
  // Each sample's two coefficients, in float64, rounded once to x0's dtype.
  const std::vector<double> steps = t.detach().to(Device::cpu()).to(DType::f64).contiguous().to_vector<double>();
  std::vector<double> coef(static_cast<size_t>(2 * n));
  for (int64_t i = 0; i < n; ++i) {
    const double s = steps[size_t(i)];
    NG_CHECK(s >= 1 && s <= double(alpha_bar.size()) && s == std::floor(s), "q_sample: t[", i, "] = ", s,
             " is not a step of the schedule (an integer in 1..", alpha_bar.size(), ")");
    const double abar = alpha_bar[size_t(s) - 1];
    check_alpha_bar("q_sample", abar, "abar_t");
    const kernels::QSampleCoefficients c = kernels::q_sample_coefficients(abar);
    coef[size_t(2 * i)] = c.sqrt_alpha_bar;
    coef[size_t(2 * i + 1)] = c.sqrt_one_minus_alpha_bar;
  }
  const Tensor coefs = from_vector(coef, {n, 2}).to(x0.dtype()).to(x0.device());

  const Tensor x0_c = x0.detach().contiguous();
  Tensor x_t = empty(x0.shape(), x0.options()), eps = empty(x0.shape(), x0.options());
  const uint64_t seed = gen.seed(), offset = gen.take(x0.numel());
  if (x0.device().is_cpu())
    cpu::q_sample(x_t, eps, x0_c, coefs, seed, offset);
  else
    NG_ON_CUDA("q_sample", cuda::q_sample(x_t, eps, x0_c, coefs, seed, offset), x0_c);

  // d x_t / d x0 = sqrt(abar[t_i]) for every element of sample i.
  Shape per_sample(size_t(x0.dim()), 1);
  per_sample[0] = n;
  const Tensor scale = coefs.select(1, 0).reshape(per_sample);
  x_t = record("QSampleBackward", x_t, {x0}, [scale](const Tensor& g) { return Grads{g * scale}; });
  return {x_t, eps};
}

Tensor p_sample(const Tensor& x_t, const Tensor& eps_pred, const std::vector<double>& alpha_bar, int64_t t,
                Generator& gen, bool posterior_variance) {
  check_step_args("p_sample", x_t, eps_pred);
  NG_CHECK(t >= 1 && t <= int64_t(alpha_bar.size()), "p_sample: step t = ", t, " is outside the schedule 1..",
           alpha_bar.size());
  const double abar = alpha_bar[size_t(t - 1)], abar_prev = t > 1 ? alpha_bar[size_t(t - 2)] : 1.0;
  check_alpha_bar("p_sample", abar, "abar_t");
  check_alpha_bar("p_sample", abar_prev, "abar_{t-1}");
  NG_CHECK(abar < 1.0 && abar <= abar_prev, "p_sample: abar_t = ", abar, " must be below 1 and at most abar_{t-1} = ",
           abar_prev, " (a decreasing schedule)");
  const double alpha = abar / abar_prev, beta = 1.0 - alpha;
  const bool noise = t > 1;
  const double variance = posterior_variance ? beta * (1.0 - abar_prev) / (1.0 - abar) : beta;
  kernels::PSampleCoefficients c;
  c.inv_sqrt_alpha = 1.0 / std::sqrt(alpha);
  c.eps_coef = beta / std::sqrt(1.0 - abar);
  c.sigma = noise ? std::sqrt(variance) : 0.0;

  const Tensor xc = x_t.detach().contiguous(), ec = eps_pred.detach().contiguous();
  Tensor out = empty(x_t.shape(), x_t.options());
  const uint64_t seed = gen.seed(), offset = noise ? gen.take(out.numel()) : 0;
  if (out.device().is_cpu())
    cpu::p_sample(out, xc, ec, c, noise, seed, offset);
  else
    NG_ON_CUDA("p_sample", cuda::p_sample(out, xc, ec, c, noise, seed, offset), xc, ec);
  const double dx = c.inv_sqrt_alpha, deps = -c.inv_sqrt_alpha * c.eps_coef;
  return record("PSampleBackward", out, {x_t, eps_pred}, [dx, deps](const Tensor& g) { return Grads{g * dx, g * deps}; });
}

double ddim_sigma(double alpha_bar_t, double alpha_bar_prev, double eta) {
  check_alpha_bar("ddim_sigma", alpha_bar_t, "alpha_bar_t");
  check_alpha_bar("ddim_sigma", alpha_bar_prev, "alpha_bar_prev");
  NG_CHECK(alpha_bar_t < 1.0 && alpha_bar_t <= alpha_bar_prev && eta >= 0.0, "ddim_sigma: need alpha_bar_t = ",
           alpha_bar_t, " < 1, alpha_bar_t <= alpha_bar_prev = ", alpha_bar_prev, " and eta = ", eta, " >= 0");
  return eta * std::sqrt((1.0 - alpha_bar_prev) / (1.0 - alpha_bar_t)) * std::sqrt(1.0 - alpha_bar_t / alpha_bar_prev);
}

Tensor ddim_step(const Tensor& x_t, const Tensor& eps_pred, double alpha_bar_t, double alpha_bar_prev, double sigma,
                 Generator& gen) {
  check_step_args("ddim_step", x_t, eps_pred);
  check_alpha_bar("ddim_step", alpha_bar_t, "alpha_bar_t");
  check_alpha_bar("ddim_step", alpha_bar_prev, "alpha_bar_prev");
  const double direction2 = 1.0 - alpha_bar_prev - sigma * sigma;
  NG_CHECK(sigma >= 0.0 && direction2 >= -1e-12, "ddim_step: sigma = ", sigma,
           " must be >= 0 with sigma^2 <= 1 - alpha_bar_prev = ", 1.0 - alpha_bar_prev);
  kernels::DDIMCoefficients c;
  c.sqrt_alpha_bar = std::sqrt(alpha_bar_t);
  c.sqrt_one_minus_alpha_bar = std::sqrt(1.0 - alpha_bar_t);
  c.sqrt_alpha_bar_prev = std::sqrt(alpha_bar_prev);
  c.direction = std::sqrt(std::max(direction2, 0.0));  // rounding may leave -1e-17 for eta = 1
  c.sigma = sigma;
  const bool noise = sigma > 0.0;

  const Tensor xc = x_t.detach().contiguous(), ec = eps_pred.detach().contiguous();
  Tensor out = empty(x_t.shape(), x_t.options());
  const uint64_t seed = gen.seed(), offset = noise ? gen.take(out.numel()) : 0;
  if (out.device().is_cpu())
    cpu::ddim_step(out, xc, ec, c, noise, seed, offset);
  else
    NG_ON_CUDA("ddim_step", cuda::ddim_step(out, xc, ec, c, noise, seed, offset), xc, ec);
  const double dx = c.sqrt_alpha_bar_prev / c.sqrt_alpha_bar;
  const double deps = c.direction - c.sqrt_alpha_bar_prev * c.sqrt_one_minus_alpha_bar / c.sqrt_alpha_bar;
  return record("DDIMStepBackward", out, {x_t, eps_pred}, [dx, deps](const Tensor& g) { return Grads{g * dx, g * deps}; });
}

}  // namespace ng
