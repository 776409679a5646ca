#include "engine/ops/fused.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "engine/autograd.h"
#include "engine/cpu/fused.h"
#include "engine/ops/dispatch.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/index.h"

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

namespace {

void check_q_sample_args(const Tensor& x0, const Tensor& t) {
  NG_CHECK(x0.defined() && t.defined(), "q_sample: x0 and t must be defined tensors");
  NG_CHECK(x0.dim() >= 1, "q_sample: x0 must be a batch [N, ...], got shape ", shape_str(x0.shape()));
  const int64_t n = x0.size(0);
  NG_CHECK(t.dim() == 1 && t.size(0) == n, "q_sample: t ", shape_str(t.shape()), " must hold one step per sample of x0 ",
           shape_str(x0.shape()), ", i.e. have shape [", n, "]");
}

// The pass itself, from each sample's two coefficients coefs [N, 2] (x0's
// dtype and device).
NoisedSample q_sample_with(const Tensor& x0, const Tensor& coefs, Generator& gen) {
  const Tensor x0_c = x0.detach().contiguous();
  Tensor x_t = empty(x0.shape(), x0.options()), eps = empty(x0.shape(), x0.options());
  const uint64_t seed = gen.seed(), offset = gen.take(x0.numel());
  if (x0.device().is_cpu())
    cpu::q_sample(x_t, eps, x0_c, coefs, seed, offset);
  else
    NG_ON_CUDA("q_sample", cuda::q_sample(x_t, eps, x0_c, coefs, seed, offset), x0_c);

  // d x_t / d x0 = sqrt(abar[t_i]) for every element of sample i.
  Shape per_sample(size_t(x0.dim()), 1);
  per_sample[0] = x0.size(0);
  const Tensor scale = coefs.select(1, 0).reshape(per_sample);
  x_t = record("QSampleBackward", x_t, {x0}, [scale](const Tensor& g) { return Grads{g * scale}; });
  return {x_t, eps};
}

}  // namespace

NoisedSample q_sample(const Tensor& x0, const Tensor& t, const std::vector<double>& alpha_bar, Generator& gen) {
  check_q_sample_args(x0, t);
  NG_CHECK(t.device().is_cpu() || t.device() == x0.device(), "q_sample: t is on ", t.device().str(), ", x0 on ",
           x0.device().str(), "; t must be on the CPU or on x0's device");
  NG_CHECK(!alpha_bar.empty(), "q_sample: the schedule alpha_bar is empty");
  // Each sample's two coefficients, in float64, rounded once to x0's dtype.
  const int64_t n = x0.size(0);
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
  return q_sample_with(x0, from_vector(coef, {n, 2}).to(x0.dtype()).to(x0.device()), gen);
}

Tensor q_sample_table(const std::vector<double>& alpha_bar, DType dtype, Device device) {
  NG_CHECK(!alpha_bar.empty(), "q_sample_table: the schedule alpha_bar is empty");
  std::vector<double> table;
  table.reserve(2 * alpha_bar.size());
  for (double abar : alpha_bar) {
    check_alpha_bar("q_sample_table", abar, "abar_t");
    const kernels::QSampleCoefficients c = kernels::q_sample_coefficients(abar);
    table.push_back(c.sqrt_alpha_bar);
    table.push_back(c.sqrt_one_minus_alpha_bar);
  }
  return from_vector(table, {int64_t(alpha_bar.size()), 2}).to(dtype).to(device);
}

NoisedSample q_sample(const Tensor& x0, const Tensor& t, const Tensor& table, Generator& gen) {
  check_q_sample_args(x0, t);
  NG_CHECK(table.defined() && table.dim() == 2 && table.size(0) >= 1 && table.size(1) == 2, "q_sample: the table ",
           table.defined() ? shape_str(table.shape()) : std::string("(undefined)"),
           " must be [T, 2], as q_sample_table makes it");
  check_same_dtype_device("q_sample", {x0, table});
  NG_CHECK(t.device() == x0.device(), "q_sample: t is on ", t.device().str(), ", x0 and the table on ",
           x0.device().str(), "; a gathered step must live where the table does");
  // Row t - 1 of the table for each sample. The steps are not read back (that
  // would make the host wait), so a wrong one is mapped into the table
  // instead: NaN to 1 (clamp lets NaN through), the rest clamped to 1..T,
  // and a fraction truncated by the gather.
  const int64_t n = x0.size(0), T = table.size(0);
  const Tensor s = t.detach().to(table.dtype());
  const Tensor step = clamp(where(eq(s, s), s, full({}, 1.0, s.options())), 1.0, double(T));
  const Tensor row = (step - 1.0).reshape({n, 1}).expand({n, 2});
  return q_sample_with(x0, detail::gather_checked_values(table, 0, row), gen);
}

namespace {

// A reverse step is out = w0 * x0_hat + wx * x_t + we * eps_pred (+ sigma z)
// with x0_hat = clamp?(a x_t - b eps_pred), so its gradient is
//   d x_t = g (mask a w0 + wx),   d eps_pred = g (we - mask b w0)
// where mask = 1 where the clamp let x0_hat through (everywhere without clip).
struct StepWeights {
  double a, b;  // x0_hat's weights of x_t and eps_pred
  bool clip;
  double w0, wx, we;
};

Tensor record_reverse_step(const char* name, const Tensor& out, const Tensor& x_t, const Tensor& eps_pred,
                           const StepWeights& w) {
  return record(name, out, {x_t, eps_pred},
                [w, sx = SavedTensor(x_t), se = SavedTensor(eps_pred)](const Tensor& g) {
                  if (!w.clip) return Grads{g * (w.a * w.w0 + w.wx), g * (w.we - w.b * w.w0)};
                  const Tensor x0 = sx.get() * w.a - se.get() * w.b;
                  const Tensor passed = rsub(gt(x0, 1.0) + lt(x0, -1.0), 1.0);
                  return Grads{passed * (g * (w.a * w.w0)) + g * w.wx, g * w.we - passed * (g * (w.b * w.w0))};
                });
}

void check_step_coefficients(const char* op, double x0_from_xt, double x0_from_eps, double sigma) {
  NG_CHECK(std::isfinite(x0_from_xt) && std::isfinite(x0_from_eps) && std::isfinite(sigma) && sigma >= 0.0, op,
           ": the coefficients must be finite with sigma >= 0, got x0_from_xt = ", x0_from_xt, ", x0_from_eps = ",
           x0_from_eps, ", sigma = ", sigma);
}

}  // namespace

Tensor p_sample(const Tensor& x_t, const Tensor& eps_pred, const kernels::PSampleCoefficients<double>& c,
                Generator& gen) {
  check_step_args("p_sample", x_t, eps_pred);
  check_step_coefficients("p_sample", c.x0_from_xt, c.x0_from_eps, c.sigma);
  const bool noise = c.sigma > 0.0;
  const Tensor xc = x_t.detach().contiguous(), ec = eps_pred.detach().contiguous();
  Tensor out = empty(x_t.shape(), x_t.options());
  const uint64_t seed = gen.seed(), offset = noise ? gen.take(out.numel()) : 0;
  if (out.device().is_cpu())
    cpu::p_sample(out, xc, ec, c, noise, seed, offset);
  else
    NG_ON_CUDA("p_sample", cuda::p_sample(out, xc, ec, c, noise, seed, offset), xc, ec);
  return record_reverse_step("PSampleBackward", out, x_t, eps_pred,
                             {c.x0_from_xt, c.x0_from_eps, c.clip, c.mean_x0, c.mean_xt, 0.0});
}

Tensor ddim_step(const Tensor& x_t, const Tensor& eps_pred, const kernels::DDIMCoefficients<double>& c,
                 Generator& gen) {
  check_step_args("ddim_step", x_t, eps_pred);
  check_step_coefficients("ddim_step", c.x0_from_xt, c.x0_from_eps, c.sigma);
  const bool noise = c.sigma > 0.0;
  const Tensor xc = x_t.detach().contiguous(), ec = eps_pred.detach().contiguous();
  Tensor out = empty(x_t.shape(), x_t.options());
  const uint64_t seed = gen.seed(), offset = noise ? gen.take(out.numel()) : 0;
  if (out.device().is_cpu())
    cpu::ddim_step(out, xc, ec, c, noise, seed, offset);
  else
    NG_ON_CUDA("ddim_step", cuda::ddim_step(out, xc, ec, c, noise, seed, offset), xc, ec);
  // With clip: out = x0_hat (sqrt(abar_prev) - direction inv sqrt(abar_t)) + x_t direction inv,
  // inv = 1 / sqrt(1 - abar_t); without: out = x0_hat sqrt(abar_prev) + eps_pred direction.
  const double along = c.direction * c.inv_sqrt_one_minus_alpha_bar;
  const StepWeights w = c.clip ? StepWeights{c.x0_from_xt, c.x0_from_eps, true,
                                             c.sqrt_alpha_bar_prev - along * c.sqrt_alpha_bar, along, 0.0}
                               : StepWeights{c.x0_from_xt, c.x0_from_eps, false, c.sqrt_alpha_bar_prev, 0.0,
                                             c.direction};
  return record_reverse_step("DDIMStepBackward", out, x_t, eps_pred, w);
}

}  // namespace ng
