// Every loss is a composite of differentiable pointwise ops and reductions,
// so first and second derivatives come for free and run on every device.
#include "engine/ops/loss.h"

#include <cmath>
#include <numbers>

#include "engine/autograd.h"
#include "engine/ops/activation.h"
#include "engine/ops/dispatch.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/reduce.h"

namespace ng {

namespace {

// Shape mismatches between a prediction and its target are nearly always
// bugs (a [N,1] vs [N] broadcast silently makes an [N,N] loss), so these
// losses refuse to broadcast them.
void check_same_shape(const char* op, const Tensor& a, const char* a_name, const Tensor& b, const char* b_name) {
  check_same_dtype_device(op, {a, b});
  NG_CHECK(a.shape() == b.shape(), op, ": ", a_name, " ", shape_str(a.shape()), " and ", b_name, " ",
           shape_str(b.shape()), " must have the same shape");
}

}  // namespace

Tensor reduce_loss(const Tensor& elementwise, Reduction r) {
  switch (r) {
    case Reduction::none: return elementwise;
    case Reduction::mean: return mean(elementwise);
    case Reduction::sum: return sum(elementwise);
  }
  throw Error(detail::concat("reduce_loss: unknown reduction ", int(r)));
}

Tensor mse_loss(const Tensor& pred, const Tensor& target, Reduction r) {
  check_same_shape("mse_loss", pred, "pred", target, "target");
  return reduce_loss(square(pred - target), r);
}

Tensor l1_loss(const Tensor& pred, const Tensor& target, Reduction r) {
  check_same_shape("l1_loss", pred, "pred", target, "target");
  return reduce_loss(abs(pred - target), r);
}

// -[t log s(z) + (1 - t) log(1 - s(z))] with s = sigmoid. Since
// log s(z) = -softplus(-z) and log(1 - s(z)) = -softplus(z), and
// softplus(-z) = softplus(z) - z, the loss is softplus(z) - t z: no log of a
// sigmoid that could underflow to log(0), finite for any z (z = +-1000
// included), with gradient sigmoid(z) - t in z and -z in t.
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target, Reduction r) {
  check_same_shape("binary_cross_entropy_with_logits", logits, "logits", target, "target");
  return reduce_loss(softplus(logits) - target * logits, r);
}

// var must be positive: this is checked (one reduction over var, which on a
// GPU also waits for it), because a zero or negative variance, e.g. from an
// exp(log_var) that underflowed, would otherwise show up much later as an
// inf or NaN loss with no hint of its cause.
Tensor gaussian_nll(const Tensor& x, const Tensor& mu, const Tensor& var, Reduction r) {
  const char* op = "gaussian_nll";
  check_same_dtype_device(op, {x, mu, var});
  broadcast_shapes(op, broadcast_shapes(op, x.shape(), mu.shape()), var.shape());  // throws naming the shapes
  if (var.numel() > 0) {
    NoGradGuard no_grad;
    const double smallest = min(var.detach()).item();
    NG_CHECK(smallest > 0, op, ": var ", shape_str(var.shape()), " must be positive everywhere, but its smallest value is ",
             smallest);
  }
  const double log_2pi = std::log(2.0 * std::numbers::pi);
  return reduce_loss((log(var) + square(x - mu) / var + log_2pi) * 0.5, r);
}

// 0.5 (exp(lv) + mu^2 - 1 - lv), with exp(lv) - 1 computed as expm1(lv):
// accurate near lv = 0, where the posterior matches the prior.
Tensor kl_normal_std_normal(const Tensor& mu, const Tensor& logvar, Reduction r) {
  check_same_dtype_device("kl_normal_std_normal", {mu, logvar});
  broadcast_shapes("kl_normal_std_normal", mu.shape(), logvar.shape());
  return reduce_loss((square(mu) + expm1(logvar) - logvar) * 0.5, r);
}

}  // namespace ng
