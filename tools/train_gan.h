// `nanogen train gan`: the DCGAN's training loop and its run folder. A
// library function, so that tests can train and resume too.
//
// A step is one generator update: n_critic discriminator updates, each on its
// own batch of real images (scaled to [-1,1]) and fresh noise, then one
// generator update on fresh noise. An epoch is as many steps as the data
// set's batches allow (batches / n_critic). Both players use Adam (lr 2e-4,
// betas (0.5, 0.999): DCGAN's settings). For wasserstein that replaces the
// WGAN paper's RMSprop (lr 5e-5); with n_critic 5 and clipping at 0.01 it
// trains as well on Fashion-MNIST (use --lr 1e-4 or --beta1 0 --beta2 0.9,
// WGAN-GP's choice, to follow the papers more closely).
//
// metrics.csv, a "step" row every --log-every steps: d_loss and g_loss (D's
// includes lambda * gp), d_real and d_fake (D's mean output on the real batch
// and on G(z): sigmoid probabilities for minimax / nonsaturating / kl, raw
// scores for wasserstein / hinge), gp (the penalty without lambda, with
// --gp), d_grad_norm and g_grad_norm (L2 norm of all of a player's gradients
// before its update; D's at the last of its n_critic steps), lr, it_per_s.
// An "epoch" row: the epoch's means of the losses and outputs, time_s and
// peak_memory_mb (tools::peak_memory_mb).
// Each epoch also writes samples/epoch_NNN.png: G (in eval mode, so with its
// running statistics) on a fixed batch of 64 noise vectors.
#pragma once

#include <memory>
#include <string>

#include "models/gan.h"
#include "tools/model_options.h"
#include "tools/train_common.h"
#include "tools/trainer.h"

namespace ng::tools {

// Returns the generator steps in all and, in last_means, the means over this
// session's last (possibly partial) epoch of d_loss, g_loss, d_real, d_fake.
RunSummary train_gan(CommonOptions common, const GANOptions& gan);

}  // namespace ng::tools
