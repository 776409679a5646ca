#include "engine/ops/norm.h"

#include "engine/autograd.h"
#include "engine/cpu/norm.h"
#include "engine/ops/activation.h"
#include "engine/ops/dispatch.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/reduce.h"

namespace ng {

using kernels::NormLayout;
using Grads = std::vector<Tensor>;

namespace {

void check_param(const char* op, const char* what, const Tensor& t, const Shape& expected, const Tensor& x) {
  if (!t.defined()) return;
  NG_CHECK(t.shape() == expected, op, ": ", what, " has shape ", shape_str(t.shape()), " but input ",
           shape_str(x.shape()), " needs ", shape_str(expected));
}

// The input viewed as [N, G, C/G, S]: there every statistic is a reduction
// over `stat_dims` and every affine parameter broadcasts as [1, G, C/G, 1].
Shape grouped_shape(const NormLayout& l) { return {l.N, l.G, l.group_channels(), l.S}; }
std::vector<int64_t> stat_dims(const NormLayout& l) {
  return l.per_sample ? std::vector<int64_t>{2, 3} : std::vector<int64_t>{0, 2, 3};
}

// The statistics of x the forward computed (mean and rstd = 1/sqrt(var + eps),
// one per group): constants every backward kernel of that x reads.
struct Stats {
  Tensor mean, rstd;
};

// A tensor laid out as x ([N, C, S]) or a per-channel one ([C]) viewed in the
// grouped shape [N, G, C/G, S], where the statistics reduce over stat_dims and
// the per-channel tensors broadcast.
Tensor grouped(const NormLayout& l, const Tensor& t) { return t.reshape(grouped_shape(l)); }
Tensor per_channel(const NormLayout& l, const Tensor& t) { return t.reshape({1, l.G, l.group_channels(), 1}); }

// xhat and rstd of x written with differentiable ops, for the backward of a
// backward: there the statistics' dependence on x is part of the graph.
std::pair<Tensor, Tensor> normalized_and_rstd(const NormLayout& l, double eps, const Tensor& x) {
  const std::vector<int64_t> dims = stat_dims(l);
  const Tensor x4 = grouped(l, x);
  const Tensor centred = x4 - mean(x4, dims, true);
  const Tensor rstd = pow(mean(square(centred), dims, true) + eps, -0.5);
  return {centred * rstd, rstd};
}

// The gradient of the normalised input for an output gradient g (y = xhat * w + b):
//   gx = rstd * P(g'),  g' = g * w,  P(v) = v - mean(v) - xhat * mean(v * xhat),
// the means over each statistic's m elements. The fused kernel computes it; as
// an op it is differentiable again. For a gradient gg of gx:
//   g: w * rstd * P(gg);   w: the sum over n and s of g * rstd * P(gg);
//   x: rstd^2 * (P(v) - xhat * a), with v = -(g' * mean(gg * xhat) + mean(g' * xhat) * gg)
//      and a = mean(gg * g') - mean(g') * mean(gg) - mean(g' * xhat) * mean(gg * xhat),
// from d xhat_k / d x_j = rstd * (delta_kj - 1/m - xhat_k * xhat_j / m).
Tensor norm_input_grad(const char* op, const NormLayout& l, double eps, const Tensor& g, const Tensor& x,
                       const Tensor& w, const Stats& stats);

// A kernel operand: the tensor's data, dense and outside the graph (undefined stays undefined).
Tensor plain(const Tensor& t) { return t.defined() ? t.detach().contiguous() : Tensor(); }

// Runs the fused backward kernel for whichever of gx, gw, gb are defined.
void run_norm_backward(const char* op, const NormLayout& l, const Tensor& g, const Tensor& x, const Tensor& w,
                       const Stats& stats, const Tensor& gx, const Tensor& gw, const Tensor& gb) {
  const Tensor gc = plain(g), xc = plain(x), wc = gx.defined() ? plain(w) : Tensor();
  if (g.device().is_cpu())
    cpu::norm_backward(l, gc, xc, stats.mean, stats.rstd, wc, gx, gw, gb);
  else
    NG_ON_CUDA(op, cuda::norm_backward(l, gc, xc, stats.mean, stats.rstd, wc, gx, gw, gb), g, x);
}

// Records gx, computed by the kernel, as norm_input_grad(g, x, w).
Tensor record_input_grad(const char* op, const NormLayout& l, double eps, const Tensor& gx, const Tensor& g,
                         const Tensor& x, const Tensor& w, const Stats& stats) {
  const bool need_g = needs_grad({g}), need_x = needs_grad({x}), need_w = needs_grad({w});
  return record("NormInputGradBackward", gx, {g, x, w},
                [=, sg = SavedTensor(g), sx = SavedTensor(x), sw = SavedTensor(w)](const Tensor& gg) {
                  const Tensor g_ = sg.get(), x_ = sx.get(), w_ = sw.get();
                  Grads out(3);
                  // rstd * P(gg) is this very op with w = 1.
                  const Tensor p_gg =
                      need_g || need_w ? norm_input_grad(op, l, eps, gg, x_, Tensor(), stats) : Tensor();
                  if (need_g)
                    out[0] = w_.defined() ? (grouped(l, p_gg) * per_channel(l, w_)).reshape(x_.shape()) : p_gg;
                  if (need_w) out[2] = sum(grouped(l, g_ * p_gg), {0, 3}).reshape(w_.shape());
                  if (need_x) {
                    const std::vector<int64_t> dims = stat_dims(l);
                    const auto [xhat, rstd] = normalized_and_rstd(l, eps, x_);
                    const Tensor gw = w_.defined() ? grouped(l, g_) * per_channel(l, w_) : grouped(l, g_);
                    const Tensor gg4 = grouped(l, gg);
                    const Tensor gw_xhat = mean(gw * xhat, dims, true), gg_xhat = mean(gg4 * xhat, dims, true);
                    const Tensor v = -(gw * gg_xhat + gw_xhat * gg4);
                    const Tensor a =
                        mean(gg4 * gw, dims, true) - mean(gw, dims, true) * mean(gg4, dims, true) - gw_xhat * gg_xhat;
                    const Tensor p_v = grouped(l, norm_input_grad(op, l, eps, v.reshape(x_.shape()), x_, Tensor(), stats));
                    out[1] = (rstd * (p_v - rstd * xhat * a)).reshape(x_.shape());
                  }
                  return out;
                });
}

Tensor norm_input_grad(const char* op, const NormLayout& l, double eps, const Tensor& g, const Tensor& x,
                       const Tensor& w, const Stats& stats) {
  const Tensor gx = empty(x.shape(), g.options());
  run_norm_backward(op, l, g, x, w, stats, gx, Tensor(), Tensor());
  return record_input_grad(op, l, eps, gx, g, x, w, stats);
}

// The backward of a normalisation: the fused kernel computes the gradients in
// one pass, each recorded as an op of its own, so the backward is differentiable again
// (double backward, e.g. a gradient penalty through layer norm):
//   gw = sum over n, s of g * xhat:  for gg, g: gg * xhat;  x: rstd * P(gg * g)
//   gb = sum over n, s of g:         for gg, g: gg
Grads norm_backward(const char* op, const NormLayout& l, double eps, const Tensor& g, const Tensor& x,
                    const Tensor& w, const Shape& w_shape, const Shape& b_shape, const Stats& stats, bool need_x,
                    bool need_w, bool need_b) {
  const Tensor gx = need_x ? empty(x.shape(), g.options()) : Tensor();
  const Tensor gw = need_w ? empty(w_shape, g.options()) : Tensor();
  const Tensor gb = need_b ? empty(b_shape, g.options()) : Tensor();
  run_norm_backward(op, l, g, x, w, stats, gx, gw, gb);
  Grads out(3);
  if (need_x) out[0] = record_input_grad(op, l, eps, gx, g, x, w, stats);
  if (need_w)
    out[1] = record("NormWeightGradBackward", gw, {g, x},
                    [op, l, eps, stats, need_g = needs_grad({g}), need_xx = needs_grad({x}), sg = SavedTensor(g),
                     sx = SavedTensor(x)](const Tensor& gg) {
      const Tensor g_ = sg.get(), x_ = sx.get(), gg4 = per_channel(l, gg);
      Grads o(2);
      if (need_g) o[0] = (normalized_and_rstd(l, eps, x_).first * gg4).reshape(x_.shape());
      if (need_xx)
        o[1] = norm_input_grad(op, l, eps, (grouped(l, g_) * gg4).reshape(x_.shape()), x_, Tensor(), stats);
      return o;
    });
  if (need_b)
    out[2] = record("NormBiasGradBackward", gb, {g}, [l, shape = g.shape()](const Tensor& gg) {
      return Grads{per_channel(l, gg).expand(grouped_shape(l)).reshape(shape)};
    });
  return out;
}

// Runs the fused forward kernel on x laid out as `l`: y (through the
// epilogue) and the statistics, and, when `var` is defined, the biased variance.
Stats run_norm_forward(const char* op, const NormLayout& l, const Tensor& x, const Tensor& weight, const Tensor& bias,
                       double eps, kernels::NormEpilogue epilogue, const Tensor& y, const Tensor& var) {
  const Stats stats{empty({l.num_stats()}, x.options()), empty({l.num_stats()}, x.options())};
  if (x.device().is_cpu())
    cpu::norm_forward(l, plain(x), plain(weight), plain(bias), eps, y, stats.mean, stats.rstd, var, epilogue);
  else
    NG_ON_CUDA(op, cuda::norm_forward(l, plain(x), plain(weight), plain(bias), eps, y, stats.mean, stats.rstd, var,
                                      epilogue),
               x, weight);
  return stats;
}

// The gradient reaching y through the SiLU epilogue, gz * silu'(y), from the
// fused kernel that recomputes y from x and the forward's statistics.
Tensor run_norm_silu_grad(const char* op, const NormLayout& l, const Tensor& gz, const Tensor& x, const Tensor& w,
                          const Tensor& b, const Stats& stats) {
  const Tensor gy = empty(x.shape(), gz.options());
  const Tensor gzc = plain(gz), xc = plain(x), wc = plain(w), bc = plain(b);
  if (gz.device().is_cpu())
    cpu::norm_silu_grad(l, gzc, xc, wc, bc, stats.mean, stats.rstd, gy);
  else
    NG_ON_CUDA(op, cuda::norm_silu_grad(l, gzc, xc, wc, bc, stats.mean, stats.rstd, gy), gz, x);
  return gy;
}

// Normalises x laid out as `l` with the fused forward kernel and records the
// backward. When asked, hands back the batch mean and biased variance.
Tensor normalize(const char* op, const char* node_name, const NormLayout& l, const Tensor& x, const Tensor& weight,
                 const Tensor& bias, double eps, Tensor* batch_mean = nullptr, Tensor* batch_var = nullptr) {
  const Tensor y = empty(x.shape(), x.options());
  const Tensor var = batch_var ? empty({l.num_stats()}, x.options()) : Tensor();
  const Stats stats = run_norm_forward(op, l, x, weight, bias, eps, kernels::NormEpilogue::none, y, var);
  if (batch_mean) *batch_mean = stats.mean;
  if (batch_var) *batch_var = var;

  const bool need_x = needs_grad({x}), need_w = needs_grad({weight}), need_b = needs_grad({bias});
  const Shape w_shape = weight.defined() ? weight.shape() : Shape{};
  const Shape b_shape = bias.defined() ? bias.shape() : Shape{};
  return record(node_name, y, {x, weight, bias},
                [=, sx = SavedTensor(x), sw = SavedTensor(need_x ? weight : Tensor())](const Tensor& g) {
                  return norm_backward(op, l, eps, g, sx.get(), sw.get(), w_shape, b_shape, stats, need_x, need_w,
                                       need_b);
                });
}

// Eval-mode batch norm is the affine map x * scale + shift per channel, with
// scale = w / sqrt(running_var + eps) and shift = b - running_mean * scale;
// written with differentiable ops (gradients reach x, weight and bias).
Tensor batch_norm_eval(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                       const Tensor& running_var, double eps) {
  Tensor inv_std, mu;
  {
    NoGradGuard no_grad;  // the running statistics are constants here (copies: later updates don't matter)
    inv_std = pow(running_var.detach() + eps, -0.5);
    mu = running_mean.detach().clone();
  }
  const Tensor scale = weight.defined() ? weight * inv_std : inv_std;
  const Tensor shift = bias.defined() ? bias - mu * scale : -(mu * scale);
  Shape per_channel(size_t(x.dim()), 1);  // [1, C, 1, ...]
  per_channel[1] = x.size(1);
  return x * scale.reshape(per_channel) + shift.reshape(per_channel);
}

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                  const Tensor& running_var, bool training, double momentum, double eps) {
  NG_CHECK(x.dim() >= 2, "batch_norm: input must be [N,C] or [N,C,*], got ", shape_str(x.shape()));
  const int64_t C = x.size(1);
  check_param("batch_norm", "weight", weight, {C}, x);
  check_param("batch_norm", "bias", bias, {C}, x);
  check_param("batch_norm", "running_mean", running_mean, {C}, x);
  check_param("batch_norm", "running_var", running_var, {C}, x);
  check_same_dtype_device("batch_norm", {x, weight, bias, running_mean, running_var});
  if (!training) {
    NG_CHECK(running_mean.defined() && running_var.defined(), "batch_norm: eval mode on input ",
             shape_str(x.shape()), " needs running_mean and running_var");
    return batch_norm_eval(x, weight, bias, running_mean, running_var, eps);
  }
  const NormLayout l{x.size(0), C, x.numel() / std::max<int64_t>(x.size(0) * C, 1), C, /*per_sample=*/false};
  NG_CHECK(l.stat_size() > 1, "batch_norm: expected more than 1 value per channel when training, got input ",
           shape_str(x.shape()));
  Tensor batch_mean, batch_var;
  Tensor y = normalize("batch_norm", "BatchNormBackward", l, x, weight, bias, eps, &batch_mean, &batch_var);

  // running = (1 - momentum) running + momentum batch, with the variance
  // made unbiased (times n / (n - 1)) as PyTorch does. Not recorded.
  NoGradGuard no_grad;
  const double n = double(l.stat_size());
  if (running_mean.defined()) {
    Tensor rm = running_mean;
    add_(mul_(rm, 1.0 - momentum), batch_mean, momentum);
  }
  if (running_var.defined()) {
    Tensor rv = running_var;
    add_(mul_(rv, 1.0 - momentum), batch_var, momentum * n / (n - 1.0));
  }
  return y;
}

namespace {

NormLayout group_layout(const char* op, const Tensor& x, int64_t groups, const Tensor& weight, const Tensor& bias) {
  NG_CHECK(x.dim() >= 2, op, ": input must be [N,C] or [N,C,*], got ", shape_str(x.shape()));
  const int64_t C = x.size(1);
  NG_CHECK(groups > 0 && C % groups == 0, op, ": the ", C, " channels of input ", shape_str(x.shape()),
           " cannot be split into ", groups, " groups");
  check_param(op, "weight", weight, {C}, x);
  check_param(op, "bias", bias, {C}, x);
  check_same_dtype_device(op, {x, weight, bias});
  return NormLayout{x.size(0), C, x.numel() / std::max<int64_t>(x.size(0) * C, 1), groups, /*per_sample=*/true};
}

}  // namespace

Tensor group_norm(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor& bias, double eps) {
  const NormLayout l = group_layout("group_norm", x, groups, weight, bias);
  return normalize("group_norm", "GroupNormBackward", l, x, weight, bias, eps);
}

// z = silu(y), y = group_norm(x): the forward kernel applies SiLU to each
// element of y as it writes it, and y is not kept for the backward, which
// recomputes it from x and the statistics (the composite keeps x and y, and
// passes over y twice more). Both passes give the composite's bits.
Tensor group_norm_silu(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor& bias, double eps) {
  static constexpr const char* op = "group_norm_silu";
  const NormLayout l = group_layout(op, x, groups, weight, bias);
  const Tensor z = empty(x.shape(), x.options());
  const Stats stats = run_norm_forward(op, l, x, weight, bias, eps, kernels::NormEpilogue::silu, z, Tensor());

  const bool need_x = needs_grad({x}), need_w = needs_grad({weight}), need_b = needs_grad({bias});
  const Shape w_shape = weight.defined() ? weight.shape() : Shape{};
  const Shape b_shape = bias.defined() ? bias.shape() : Shape{};
  return record("GroupNormSiluBackward", z, {x, weight, bias},
                [=, sx = SavedTensor(x), sw = SavedTensor(weight), sb = SavedTensor(bias)](const Tensor& gz) {
                  const Tensor x_ = sx.get(), w_ = sw.get(), b_ = sb.get();
                  // The gradient reaching y = group_norm(x). When the backward is
                  // to be differentiated again, y is recomputed with recorded
                  // ops, so that gy depends on x, w and b.
                  const Tensor gy = grad_enabled() ? silu_backward(gz, group_norm(x_, groups, w_, b_, eps))
                                                   : run_norm_silu_grad(op, l, gz, x_, w_, b_, stats);
                  return norm_backward(op, l, eps, gy, x_, w_, w_shape, b_shape, stats, need_x, need_w, need_b);
                });
}

Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias,
                  double eps) {
  const int64_t k = int64_t(normalized_shape.size());
  const bool trailing = k >= 1 && k <= x.dim() && Shape(x.shape().end() - k, x.shape().end()) == normalized_shape;
  NG_CHECK(trailing && shape_numel(normalized_shape) > 0, "layer_norm: normalized_shape ",
           shape_str(normalized_shape), " is not the (non-empty) trailing dims of input ", shape_str(x.shape()));
  check_param("layer_norm", "weight", weight, normalized_shape, x);
  check_param("layer_norm", "bias", bias, normalized_shape, x);
  check_same_dtype_device("layer_norm", {x, weight, bias});
  // Each row of K normalised elements is one sample with K channels, one group.
  const int64_t K = shape_numel(normalized_shape);
  const NormLayout l{x.numel() / K, K, 1, 1, /*per_sample=*/true};
  return normalize("layer_norm", "LayerNormBackward", l, x, weight, bias, eps);
}

}  // namespace ng
