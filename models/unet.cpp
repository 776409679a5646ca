#include "models/unet.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "engine/nanogen.h"
#include "models/labels.h"

namespace ng::models {

std::string int_list_str(const std::vector<int64_t>& v) {
  std::ostringstream s;
  for (size_t i = 0; i < v.size(); ++i) s << (i ? "," : "") << v[i];
  return s.str();
}

Tensor timestep_frequencies(int64_t dim, Device device) {
  NG_CHECK(dim >= 4 && dim % 2 == 0, "timestep_embedding: dim must be even and at least 4, got ", dim);
  const int64_t half = dim / 2;
  std::vector<double> f(static_cast<size_t>(half));
  for (int64_t k = 0; k < half; ++k) f[size_t(k)] = std::exp(-std::log(10000.0) * double(k) / double(half - 1));
  return from_vector(f, {half}).to(device);
}

Tensor timestep_embedding(const Tensor& t, const Tensor& frequencies) {
  NG_CHECK(t.dim() == 1, "timestep_embedding: t must be 1-d (a step per image), got ", shape_str(t.shape()));
  NG_CHECK(frequencies.dim() == 1 && frequencies.dtype() == DType::f64 && frequencies.device() == t.device(),
           "timestep_embedding: the frequencies must be timestep_frequencies(dim, ", t.device().str(), ")");
  const Tensor arg = t.to(DType::f64).reshape({t.size(0), 1}) * frequencies.reshape({1, frequencies.size(0)});
  return cat({sin(arg), cos(arg)}, 1).to(DType::f32);
}

// ---- blocks ------------------------------------------------------------------

ResBlock::ResBlock(int64_t in, int64_t out, int64_t temb_dim, int64_t groups, double dropout_p, Generator& gen)
    : dropout(dropout_p), dropout_gen(&default_generator()) {
  norm1 = register_module("norm1", std::make_shared<nn::GroupNorm>(groups, in));
  conv1 = register_module("conv1", std::make_shared<nn::Conv2d>(in, out, 3, 1, 1, true, gen));
  temb = register_module("temb", std::make_shared<nn::Linear>(temb_dim, out, true, gen));
  norm2 = register_module("norm2", std::make_shared<nn::GroupNorm>(groups, out));
  conv2 = register_module("conv2", std::make_shared<nn::Conv2d>(out, out, 3, 1, 1, true, gen));
  if (in != out) skip = register_module("skip", std::make_shared<nn::Conv2d>(in, out, 1, 1, 0, true, gen));
}

Tensor ResBlock::forward(const Tensor& x, const Tensor& t) {
  Tensor h = (*conv1)(norm1->forward_silu(x));
  // One shift per channel from the time embedding, broadcast over H and W.
  const Tensor shift = (*temb)(silu(t));
  h = h + shift.reshape({shift.size(0), shift.size(1), 1, 1});
  h = (*conv2)(ng::dropout(norm2->forward_silu(h), dropout, is_training(), *dropout_gen));
  return (skip ? (*skip)(x) : x) + h;
}

AttnBlock::AttnBlock(int64_t channels, int64_t groups, Generator& gen) {
  norm = register_module("norm", std::make_shared<nn::GroupNorm>(groups, channels));
  qkv = register_module("qkv", std::make_shared<nn::Conv2d>(channels, 3 * channels, 1, 1, 0, true, gen));
  proj = register_module("proj", std::make_shared<nn::Conv2d>(channels, channels, 1, 1, 0, true, gen));
}

Tensor AttnBlock::forward(const Tensor& x) {
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const std::vector<Tensor> parts = chunk((*qkv)((*norm)(x)).reshape({n, 3 * c, h * w}), 3, 1);
  const Tensor& q = parts[0];  // [n, c, hw] each
  const Tensor& k = parts[1];
  const Tensor& v = parts[2];
  // weights[b, i, j]: how much position i attends to position j.
  const Tensor weights = softmax(bmm(q.transpose(1, 2), k) * (1.0 / std::sqrt(double(c))), -1);
  const Tensor out = bmm(v, weights.transpose(1, 2)).reshape({n, c, h, w});
  return x + (*proj)(out);
}

UNetLevel::UNetLevel(const std::vector<int64_t>& in_channels, int64_t channels, bool attention, const UNetConfig& c,
                     Resample resample, Generator& gen) {
  for (size_t j = 0; j < in_channels.size(); ++j)
    res.push_back(register_module("res." + std::to_string(j),
                                  std::make_shared<ResBlock>(in_channels[j], channels, c.temb_dim, c.groups,
                                                             c.dropout, gen)));
  if (attention)
    for (size_t j = 0; j < in_channels.size(); ++j)
      attn.push_back(register_module("attn." + std::to_string(j), std::make_shared<AttnBlock>(channels, c.groups, gen)));
  if (resample == Resample::down) down = register_module("down", std::make_shared<nn::Conv2d>(channels, channels, 3, 2, 1, true, gen));
  if (resample == Resample::up) up = register_module("up", std::make_shared<nn::Conv2d>(channels, channels, 3, 1, 1, true, gen));
}

// ---- the U-Net ------------------------------------------------------------------

namespace {

void check_config(const UNetConfig& c) {
  const int64_t levels = int64_t(c.mults.size());
  NG_CHECK(levels >= 1, "unet: --channel-mults must name at least one level");
  NG_CHECK(c.blocks >= 1, "unet: blocks per level must be at least 1, got ", c.blocks);
  NG_CHECK(c.base >= 4 && c.base % 2 == 0, "unet: base channels must be even and at least 4, got ", c.base);
  const int64_t factor = int64_t(1) << (levels - 1);
  NG_CHECK(c.height % factor == 0 && c.width % factor == 0, "unet: images ", c.height, "x", c.width,
           " cannot be halved ", levels - 1, " times (", levels, " levels of --channel-mults ", int_list_str(c.mults),
           ")");
  NG_CHECK(c.groups >= 1, "unet: GroupNorm groups must be positive, got ", c.groups);
  // Every normalised width: each level's channels, and the concatenations of the up path.
  std::vector<int64_t> widths{c.base};
  for (size_t i = 0; i < c.mults.size(); ++i) {
    NG_CHECK(c.mults[i] >= 1, "unet: channel multipliers must be positive, got ", int_list_str(c.mults));
    const int64_t ch = c.base * c.mults[i];
    const int64_t below = i + 1 < c.mults.size() ? c.base * c.mults[i + 1] : ch;
    widths.insert(widths.end(), {ch, 2 * ch, below + ch});
  }
  for (int64_t w : widths)
    NG_CHECK(w % c.groups == 0, "unet: ", c.groups, " GroupNorm groups do not divide ", w,
             " channels (base ", c.base, ", multipliers ", int_list_str(c.mults), ")");
}

}  // namespace

UNet::UNet(const UNetConfig& c, Generator& gen) : config_(c) {
  check_config(c);
  const size_t levels = c.mults.size();
  std::vector<int64_t> chans, res;
  for (size_t i = 0; i < levels; ++i) {
    chans.push_back(c.base * c.mults[i]);
    res.push_back(c.height >> i);
  }
  auto has_attention = [&](size_t i) {
    return std::find(c.attention_res.begin(), c.attention_res.end(), res[i]) != c.attention_res.end();
  };

  time_mlp = register_module("time_mlp", std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
                                             std::make_shared<nn::Linear>(c.base, c.temb_dim, true, gen), nn::SiLU(),
                                             std::make_shared<nn::Linear>(c.temb_dim, c.temb_dim, true, gen)}));
  stem = register_module("stem", std::make_shared<nn::Conv2d>(c.channels, c.base, 3, 1, 1, true, gen));
  int64_t prev = c.base;
  for (size_t i = 0; i < levels; ++i) {
    std::vector<int64_t> ins(size_t(c.blocks), chans[i]);
    ins[0] = prev;
    down.push_back(register_module("down." + std::to_string(i),
                                   std::make_shared<UNetLevel>(ins, chans[i], has_attention(i), c,
                                                               i + 1 < levels ? Resample::down : Resample::none, gen)));
    prev = chans[i];
  }
  const int64_t deepest = chans.back();
  mid_res1 = register_module("mid.res1", std::make_shared<ResBlock>(deepest, deepest, c.temb_dim, c.groups, c.dropout, gen));
  mid_attn = register_module("mid.attn", std::make_shared<AttnBlock>(deepest, c.groups, gen));
  mid_res2 = register_module("mid.res2", std::make_shared<ResBlock>(deepest, deepest, c.temb_dim, c.groups, c.dropout, gen));
  for (size_t i = 0; i < levels; ++i) {
    // The first block sees the level below's output (the mid block's at the
    // bottom) next to the skip; later blocks see this level's width twice.
    const int64_t below = i + 1 < levels ? chans[i + 1] : deepest;
    std::vector<int64_t> ins(size_t(c.blocks), 2 * chans[i]);
    ins[0] = below + chans[i];
    up.push_back(register_module("up." + std::to_string(i),
                                 std::make_shared<UNetLevel>(ins, chans[i], has_attention(i), c,
                                                             i > 0 ? Resample::up : Resample::none, gen)));
  }
  out_norm = register_module("out_norm", std::make_shared<nn::GroupNorm>(c.groups, c.base));
  out_conv = register_module("out_conv", std::make_shared<nn::Conv2d>(c.base, c.channels, 3, 1, 1, true, gen));
  if (c.classes > 0)
    class_embed = register_module("class_embed", std::make_shared<nn::Embedding>(c.classes + 1, c.temb_dim, gen));
}

void UNet::set_dropout_generator(Generator& gen) {
  for (auto* level : {&down, &up})
    for (auto& l : *level)
      for (auto& r : l->res) r->dropout_gen = &gen;
  mid_res1->dropout_gen = &gen;
  mid_res2->dropout_gen = &gen;
}

Tensor UNet::forward(const Tensor& x, const Tensor& t, const Labels& y) {
  const UNetConfig& c = config_;
  NG_CHECK(x.dim() == 4 && x.size(1) == c.channels && x.size(2) == c.height && x.size(3) == c.width,
           "unet: input ", shape_str(x.shape()), " does not match the model's images [N,", c.channels, ",", c.height,
           ",", c.width, "]");
  NG_CHECK(t.dim() == 1 && t.size(0) == x.size(0), "unet: timesteps ", shape_str(t.shape()), " for a batch ",
           shape_str(x.shape()), "; expected one per image, [", x.size(0), "]");
  NG_CHECK(t.device() == x.device(), "unet: the timesteps are on ", t.device().str(), ", the images on ",
           x.device().str(), "; they must be on one device");
  check_labels(y, conditional() ? c.classes + 1 : 0, x.size(0), "unet");
  if (!frequencies_.defined() || frequencies_.device() != x.device())
    frequencies_ = timestep_frequencies(c.base, x.device());
  Tensor temb = (*time_mlp)(timestep_embedding(t.detach(), frequencies_).to(x.dtype()));
  if (conditional()) temb = temb + class_embed->forward(y);

  Tensor h = (*stem)(x);
  std::vector<Tensor> skips;
  for (const auto& level : down) {
    for (size_t j = 0; j < level->res.size(); ++j) {
      h = level->res[j]->forward(h, temb);
      if (!level->attn.empty()) h = (*level->attn[j])(h);
      skips.push_back(h);
    }
    if (level->down) h = (*level->down)(h);
  }
  h = mid_res2->forward((*mid_attn)(mid_res1->forward(h, temb)), temb);
  for (size_t i = up.size(); i-- > 0;) {
    const UNetLevel& level = *up[i];
    for (size_t j = 0; j < level.res.size(); ++j) {
      h = level.res[j]->forward(cat({h, skips.back()}, 1), temb);
      skips.pop_back();
      if (!level.attn.empty()) h = (*level.attn[j])(h);
    }
    if (level.up) h = (*level.up)(upsample_nearest2d(h, 2));
  }
  return (*out_conv)(out_norm->forward_silu(h));
}

}  // namespace ng::models
