// The noise-prediction U-Net of the DDPM (Ho et al. 2020, made small).
//
//   t -> sinusoidal embedding (dim = base) -> Linear SiLU Linear -> temb (temb_dim)
//   x -> stem conv3x3 -> down levels -> mid (res, attn, res) -> up levels -> GroupNorm SiLU conv3x3 -> eps
//
// Level i has base * mults[i] channels and `blocks` residual blocks each way
// (attention after each block when its resolution is in attention_res). The
// down path ends each level but the last with a stride-2 3x3 conv; the up
// path concatenates the matching down block's output (the skip) along the
// channels before each residual block and ends each level but the top one
// with nearest-neighbour upsampling and a 3x3 conv. Fashion-MNIST: 28 -> 14
// -> 7 with channels 64, 128, 128 and attention at 7x7 (3.3 M parameters).
//
// Parameter names are those of the PyTorch twin (benchmarks/pytorch/ddpm.py):
// time_mlp.0.weight, down.0.res.0.conv1.weight, mid.attn.qkv.weight, ...
//
// Class-conditional (classes > 0): a learned vector per class is added to the
// time embedding (class_embed, as in Dhariwal & Nichol's guided diffusion),
// so every residual block sees the label. Its table has one row more, the
// "no label" row null_label() = classes: trained on a fraction of the images
// with their label dropped, the same network also predicts the unconditional
// noise, which classifier-free guidance needs (models/guidance.h).
#pragma once

#include <memory>
#include <vector>

#include "engine/nn/layers.h"
#include "models/labels.h"

namespace ng::models {

struct UNetConfig {
  int64_t channels = 1, height = 28, width = 28;  // the images
  int64_t base = 64;                              // channels of the top level (and the sinusoid's dim)
  std::vector<int64_t> mults{1, 2, 2};            // channel multiplier per level
  int64_t blocks = 1;                             // residual blocks per level, each way
  std::vector<int64_t> attention_res{7};          // resolutions (height) that get self-attention
  int64_t temb_dim = 256;                         // width of the time embedding MLP
  int64_t groups = 8;                             // GroupNorm groups
  double dropout = 0.0;                           // in each residual block, between the convs
  int64_t classes = 0;                            // > 0: conditional on a label in [0, classes]
};

// {1,2,2} -> "1,2,2", as the command line writes it (tools::parse_int_list reads it).
std::string int_list_str(const std::vector<int64_t>& v);

// Ho et al.'s sinusoidal embedding of integer timesteps: [sin(t f_i), cos(t f_i)]
// with f_i = 10000^(-i/(dim/2-1)), i < dim/2. Computed in double on t's
// device (t: [N] whole steps, any float dtype), returned as float32 [N, dim].
// `frequencies` is timestep_frequencies(dim, t's device): the f_i, float64
// [dim/2], computed on the host once and kept where the steps are.
Tensor timestep_frequencies(int64_t dim, Device device);
Tensor timestep_embedding(const Tensor& t, const Tensor& frequencies);

// GroupNorm, SiLU, conv3x3, + Linear(SiLU(temb)) per channel, GroupNorm,
// SiLU, dropout, conv3x3, plus the input (through a 1x1 conv when the
// channels change).
class ResBlock : public nn::Module {
 public:
  ResBlock(int64_t in, int64_t out, int64_t temb_dim, int64_t groups, double dropout, Generator& gen);
  Tensor forward(const Tensor& x, const Tensor& temb);
  using nn::Module::forward;

  std::shared_ptr<nn::GroupNorm> norm1, norm2;
  std::shared_ptr<nn::Conv2d> conv1, conv2, skip;  // skip is null when in == out
  std::shared_ptr<nn::Linear> temb;
  double dropout;
  Generator* dropout_gen;  // where dropout draws its masks from
};

// Single-head self-attention over the H*W positions:
// x + proj(V softmax(Q^T K / sqrt(C))^T), with Q, K, V from one 1x1 conv of
// GroupNorm(x).
class AttnBlock : public nn::Module {
 public:
  AttnBlock(int64_t channels, int64_t groups, Generator& gen);
  Tensor forward(const Tensor& x) override;

  std::shared_ptr<nn::GroupNorm> norm;
  std::shared_ptr<nn::Conv2d> qkv, proj;
};

// How a level ends: the down path halves the resolution (a stride-2 conv),
// the up path doubles it (nearest-neighbour upsampling, then a conv).
enum class Resample { none, down, up };

// One resolution of either path: its residual blocks, their attention blocks
// (empty when none) and its resampling conv (null when none).
class UNetLevel : public nn::Module {
 public:
  UNetLevel(const std::vector<int64_t>& in_channels, int64_t channels, bool attention, const UNetConfig& c,
            Resample resample, Generator& gen);
  std::vector<std::shared_ptr<ResBlock>> res;
  std::vector<std::shared_ptr<AttnBlock>> attn;
  std::shared_ptr<nn::Conv2d> down, up;
};

class UNet : public nn::Module {
 public:
  explicit UNet(const UNetConfig& config, Generator& gen = default_generator());

  // The predicted noise eps_theta(x_t, t[, y]) for images x [N,C,H,W], one
  // timestep per image (1..T, a float tensor [N] on x's device) and, when
  // conditional, one label per image (null_label() for none).
  Tensor forward(const Tensor& x, const Tensor& t, const Labels& y = {});
  using nn::Module::forward;

  bool conditional() const { return config_.classes > 0; }
  int64_t null_label() const { return config_.classes; }

  // Dropout masks are drawn from `gen` (a trainer's checkpointed stream).
  void set_dropout_generator(Generator& gen);
  const UNetConfig& config() const { return config_; }

  std::shared_ptr<nn::Sequential> time_mlp;
  std::shared_ptr<nn::Conv2d> stem, out_conv;
  std::vector<std::shared_ptr<UNetLevel>> down, up;  // up[i] works at down[i]'s resolution
  std::shared_ptr<ResBlock> mid_res1, mid_res2;
  std::shared_ptr<AttnBlock> mid_attn;
  std::shared_ptr<nn::GroupNorm> out_norm;
  std::shared_ptr<nn::Embedding> class_embed;  // [classes + 1, temb_dim]; null unless conditional

 private:
  UNetConfig config_;
  Tensor frequencies_;  // timestep_frequencies on the device last used, not a parameter
};

}  // namespace ng::models
