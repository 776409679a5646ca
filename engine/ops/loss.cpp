// Every loss is a composite of differentiable pointwise ops and reductions,
// so first and second derivatives come for free and run on every device.
#include "engine/ops/loss.h"

#include <cmath>
#include <numbers>

#include "engine/autograd.h"
#include "engine/ops/activation.h"
#include "engine/ops/dispatch.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/index.h"
#include "engine/ops/reduce.h"
#include "engine/ops/softmax.h"

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

namespace {

// The class-probability inputs of nll_loss and cross_entropy: [C] is taken
// as one row, [1, C]; returns the input with its classes in dim 1.
Tensor as_rows(const Tensor& t) { return t.dim() == 1 ? t.unsqueeze(0) : t; }

// The per-class weights in the input's dtype (not differentiated), or
// undefined when there are none.
Tensor class_weight(const char* op, const Tensor& weight, const Tensor& input, int64_t classes) {
  if (!weight.defined()) return {};
  NG_CHECK(weight.dim() == 1 && weight.size(0) == classes, op, ": weight ", shape_str(weight.shape()),
           " must be [", classes, "], one per class");
  NG_CHECK(weight.device() == input.device(), op, ": weight is on ", weight.device().str(), ", input on ",
           input.device().str());
  return weight.detach().to(input.dtype());
}

}  // namespace

Tensor nll_loss(const Tensor& log_probs, const Tensor& target, Reduction r, const Tensor& weight,
                int64_t ignore_index) {
  const char* op = "nll_loss";
  NG_CHECK(log_probs.dim() >= 1, op, ": input must be [N, C], [N, C, d1, ...] or [C], got a scalar");
  const Tensor lp = as_rows(log_probs);
  const int64_t classes = lp.size(1);
  Shape target_shape = lp.shape();
  target_shape.erase(target_shape.begin() + 1);
  const Tensor t = (log_probs.dim() == 1 ? target.unsqueeze(0) : target).detach();
  NG_CHECK(t.shape() == target_shape, op, ": target ", shape_str(target.shape()), " does not match input ",
           shape_str(log_probs.shape()), ": expected one class per row, ",
           shape_str(log_probs.dim() == 1 ? Shape{} : target_shape));
  NG_CHECK(t.device() == lp.device(), op, ": target is on ", t.device().str(), ", input on ", lp.device().str());
  const Tensor w = class_weight(op, weight, lp, classes);
  {  // Every target is a class or ignore_index (checked on the host, once).
    const std::vector<double> v = t.to_vector<double>();
    for (size_t i = 0; i < v.size(); ++i)
      NG_CHECK(v[i] == double(ignore_index) || (v[i] == std::floor(v[i]) && v[i] >= 0 && v[i] < double(classes)),
               op, ": target ", v[i], " at position ", i, " is not a class in [0, ", classes,
               ") nor ignore_index ", ignore_index);
  }
  const Tensor tv = t.to(lp.dtype());
  const Tensor ignored = eq(tv, full({}, double(ignore_index), tv.options()));
  const Tensor zero = zeros({}, tv.options());
  const Tensor classes_picked = where(ignored, zero, tv);  // ignored rows read class 0...
  const Tensor picked = detail::gather_checked_values(lp, 1, classes_picked.unsqueeze(1)).squeeze(1);
  Tensor weights = 1.0 - ignored;
  if (w.defined())
    weights = weights * detail::gather_checked_values(w, 0, classes_picked.reshape({-1})).reshape(tv.shape());
  // ...and drop it with `where`, not a 0 weight: 0 * -inf would be NaN.
  Tensor losses = where(ignored, zero, -(picked * weights));
  if (log_probs.dim() == 1) losses = losses.squeeze(0);
  if (r == Reduction::mean) return sum(losses) / sum(weights);
  return reduce_loss(losses, r);
}

Tensor cross_entropy(const Tensor& logits, const Tensor& target, Reduction r, const Tensor& weight,
                     int64_t ignore_index) {
  const char* op = "cross_entropy";
  NG_CHECK(logits.dim() >= 1, op, ": input must be [N, C], [N, C, d1, ...] or [C], got a scalar");
  const Tensor log_probs = log_softmax(logits, logits.dim() == 1 ? 0 : 1);
  if (target.shape() != logits.shape()) return nll_loss(log_probs, target, r, weight, ignore_index);
  // Class probabilities: -sum_c weight_c p_c log q_c per entry.
  check_same_dtype_device(op, {logits, target});
  const int64_t class_dim = logits.dim() == 1 ? 0 : 1;
  const Tensor w = class_weight(op, weight, logits, logits.size(class_dim));
  Tensor terms = target * log_probs;
  if (w.defined()) {
    Shape along(size_t(logits.dim()), 1);
    along[size_t(class_dim)] = logits.size(class_dim);
    terms = terms * w.reshape(along);
  }
  return reduce_loss(-sum(terms, {class_dim}), r);
}

}  // namespace ng
