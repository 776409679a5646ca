// The GAN objectives, all computed from the discriminator's logits h = D(x)
// (D(x) = sigmoid(h) is never formed, so nothing saturates or takes log(0)).
//
// With s = sigmoid: log s(h) = -softplus(-h) and log(1 - s(h)) = -softplus(h).
//
//   loss            discriminator (minimised)                    generator (minimised)
//   minimax         E softplus(-h_real) + E softplus(h_fake)     E log(1 - D(G(z)))  = -E softplus(h_fake)
//   nonsaturating   same                                         -E log D(G(z))      =  E softplus(-h_fake)
//   kl              same                                         E log((1-D)/D)      = -E h_fake
//   wasserstein     E f(fake) - E f(real)   (f = h, a critic)    -E f(fake)
//   hinge           E relu(1 - h_real) + E relu(1 + h_fake)      -E h_fake
//
// minimax is Goodfellow et al.'s original game; nonsaturating their practical
// variant; kl makes G minimise KL(p_g || p_data) when D is optimal (its logit
// is then log(p_data / p_g)); wasserstein is Arjovsky et al.'s WGAN, kept
// 1-Lipschitz by weight clipping or by Gulrajani et al.'s gradient penalty;
// hinge is the loss of SAGAN / BigGAN.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace ng::models {

enum class GANLoss { minimax, nonsaturating, kl, wasserstein, hinge };
GANLoss parse_gan_loss(const std::string& s);  // the names in the table above
std::string gan_loss_name(GANLoss l);

// Losses whose logits are log-odds of "real" (reported as probabilities);
// wasserstein and hinge logits are unbounded scores (reported raw).
bool logits_are_log_odds(GANLoss l);

// Mean over the batch; logits of any shape ([N] or [N,1]).
Tensor discriminator_loss(GANLoss l, const Tensor& real_logits, const Tensor& fake_logits);
Tensor generator_loss(GANLoss l, const Tensor& fake_logits);

// WGAN-GP's penalty, E[(||grad_x critic(x_hat)||_2 - 1)^2] at the
// interpolates x_hat = alpha real + (1 - alpha) fake, alpha [N] in [0,1].
// The gradient is taken with create_graph, so the penalty is differentiable
// w.r.t. the critic's weights (a double backward). The critic must treat
// the samples independently (no batch norm), or the per-sample gradient is
// not what the penalty means. The norm is sqrt(sum g^2 + 1e-12), so that it
// stays differentiable where a gradient happens to vanish.
Tensor gradient_penalty(const std::function<Tensor(const Tensor&)>& critic, const Tensor& real, const Tensor& fake,
                        const Tensor& alpha);

// Clamps every tensor into [-c, c] in place (WGAN's weight clipping).
void clip_weights(const std::vector<Tensor>& params, double c);

}  // namespace ng::models
