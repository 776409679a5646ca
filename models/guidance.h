// Classifier-free guidance (Ho & Salimans 2022) for the class-conditional
// U-Net: one network trained both with labels and, for a fraction of the
// images, with the "no label" row (models/unet.h), predicts both
// eps(x_t, t, y) and eps(x_t, t). Sampling then follows
//
//   eps_guided = eps(x_t, t) + s * (eps(x_t, t, y) - eps(x_t, t)),
//
// s = 1 the conditional model itself, s = 0 the unconditional one, s > 1
// pushed further along the direction that makes the class likelier (for
// eps = -sigma_t * score, the difference is -sigma_t * grad log p(y | x_t)),
// which trades diversity for class fidelity. This is the diffusers
// convention for the scale (theirs is ours; Ho & Salimans' w is s - 1).
#pragma once

#include "engine/ops/random.h"
#include "models/diffusion.h"
#include "models/labels.h"
#include "models/unet.h"

namespace ng::models {

// The noise predictor a sampler calls for images of classes y (one label a
// sampled image): the guided combination above, in one batched forward pass
// of 2N images when s != 1 (and one of N when s is 1 or 0). The model must be
// conditional; `model` must outlive the predictor.
EpsPredictor guided_predictor(UNet& model, const Labels& y, double guidance_scale);

// The noise predictor for labels y as given (null_label() entries included):
// the training loss's.
EpsPredictor labelled_predictor(UNet& model, const Labels& y);

// The U-Net's noise predictor without a label, for batches of any size: the
// model itself when unconditional, the null label for every image
// otherwise. Its variational bound is one on log p(x), comparable with an
// unconditional model's.
EpsPredictor unconditional_predictor(UNet& model);

// Training's label dropout: each label replaced by the null label with
// probability p, by uniform draws from gen (one per label, drawn whatever p).
Labels drop_labels(const Labels& y, double p, int64_t null_label, Generator& gen);

}  // namespace ng::models
