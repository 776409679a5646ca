#include "models/gan_losses.h"

#include "engine/nanogen.h"

namespace ng::models {

GANLoss parse_gan_loss(const std::string& s) {
  if (s == "minimax") return GANLoss::minimax;
  if (s == "nonsaturating") return GANLoss::nonsaturating;
  if (s == "kl") return GANLoss::kl;
  if (s == "wasserstein") return GANLoss::wasserstein;
  if (s == "hinge") return GANLoss::hinge;
  throw Error("gan: loss '" + s + "' is not known; expected minimax, nonsaturating, kl, wasserstein or hinge");
}

std::string gan_loss_name(GANLoss l) {
  switch (l) {
    case GANLoss::minimax: return "minimax";
    case GANLoss::nonsaturating: return "nonsaturating";
    case GANLoss::kl: return "kl";
    case GANLoss::wasserstein: return "wasserstein";
    case GANLoss::hinge: return "hinge";
  }
  return "?";
}

bool logits_are_log_odds(GANLoss l) {
  return l == GANLoss::minimax || l == GANLoss::nonsaturating || l == GANLoss::kl;
}

Tensor discriminator_loss(GANLoss l, const Tensor& real_logits, const Tensor& fake_logits) {
  switch (l) {
    case GANLoss::minimax:
    case GANLoss::nonsaturating:
    case GANLoss::kl:
      // -E log D(x) - E log(1 - D(G(z))): binary cross-entropy, real = 1, fake = 0.
      return mean(softplus(-real_logits)) + mean(softplus(fake_logits));
    case GANLoss::wasserstein:
      return mean(fake_logits) - mean(real_logits);
    case GANLoss::hinge:
      return mean(relu(1.0 - real_logits)) + mean(relu(1.0 + fake_logits));
  }
  throw Error("gan: unknown loss");
}

Tensor generator_loss(GANLoss l, const Tensor& fake_logits) {
  switch (l) {
    case GANLoss::minimax:
      // E log(1 - sigmoid(h)) = -E softplus(h): G minimises what D maximises.
      return -mean(softplus(fake_logits));
    case GANLoss::nonsaturating:
      // -E log sigmoid(h) = E softplus(-h): strong gradients while D rejects the fakes.
      return mean(softplus(-fake_logits));
    case GANLoss::kl:
      // E[log(1 - D) - log D]: log(1 - s(h)) - log s(h) = log((1 - s(h)) / s(h)) = log(e^-h) = -h,
      // since (1 - s(h)) / s(h) = e^-h. So the loss is exactly -E h, with no softplus at all.
      return -mean(fake_logits);
    case GANLoss::wasserstein:
    case GANLoss::hinge:
      return -mean(fake_logits);
  }
  throw Error("gan: unknown loss");
}

Tensor gradient_penalty(const std::function<Tensor(const Tensor&)>& critic, const Tensor& real, const Tensor& fake,
                        const Tensor& alpha) {
  NG_CHECK(real.shape() == fake.shape() && real.dim() >= 2, "gradient_penalty: real ", shape_str(real.shape()),
           " and fake ", shape_str(fake.shape()), " must be batches [N,...] of one shape");
  NG_CHECK(alpha.dim() == 1 && alpha.size(0) == real.size(0), "gradient_penalty: alpha ", shape_str(alpha.shape()),
           " must be [", real.size(0), "], one mixing weight per sample");
  Shape per_sample(size_t(real.dim()), 1);
  per_sample[0] = real.size(0);
  const Tensor a = alpha.reshape(per_sample);
  // The interpolates are a fresh leaf: the penalty's gradient reaches the
  // critic's weights only, not the generator that made `fake`.
  const Tensor x_hat = (a * real.detach() + (1.0 - a) * fake.detach()).detach().requires_grad_();
  GradModeGuard grad_on(true);
  const Tensor scores = critic(x_hat);
  const Tensor g = autograd::grad({sum(scores)}, {x_hat}, {}, /*retain_graph=*/true, /*create_graph=*/true)[0];
  std::vector<int64_t> feature_dims;
  for (int64_t d = 1; d < g.dim(); ++d) feature_dims.push_back(d);
  const Tensor norm = sqrt(sum(square(g), feature_dims) + 1e-12);
  return mean(square(norm - 1.0));
}

void clip_weights(const std::vector<Tensor>& params, double c) {
  NG_CHECK(c > 0, "clip_weights: the bound must be positive, got ", c);
  NoGradGuard no_grad;
  for (Tensor p : params) p.copy_(clamp(p, -c, c));
}

}  // namespace ng::models
