#include "models/gan.h"

#include "engine/nanogen.h"

namespace ng::models {

DNorm parse_d_norm(const std::string& s) {
  if (s == "batch") return DNorm::batch;
  if (s == "layer") return DNorm::layer;
  if (s == "none") return DNorm::none;
  throw Error("gan: discriminator norm '" + s + "' is not known; expected batch, layer or none");
}

std::string d_norm_name(DNorm n) {
  switch (n) {
    case DNorm::batch: return "batch";
    case DNorm::layer: return "layer";
    case DNorm::none: return "none";
  }
  return "?";
}

GAN::GAN(const GANConfig& c, Generator& gen) : config_(c) {
  NG_CHECK(c.height % 4 == 0 && c.width % 4 == 0, "gan: image size ", c.height, "x", c.width,
           " must be divisible by 4 (two stride-2 convolutions)");
  NG_CHECK(c.z_dim > 0 && c.g_width > 0 && c.d_width > 0, "gan: z_dim ", c.z_dim, ", g_width ", c.g_width,
           " and d_width ", c.d_width, " must be positive");
  const int64_t h4 = c.height / 4, w4 = c.width / 4;
  const int64_t g2 = 2 * c.g_width, d2 = 2 * c.d_width;
  using namespace nn;
  G = register_module("G", std::make_shared<Sequential>(std::initializer_list<std::shared_ptr<Module>>{
                               std::make_shared<Linear>(c.z_dim, g2 * h4 * w4, true, gen),
                               std::make_shared<BatchNorm1d>(g2 * h4 * w4), ReLU(), Unflatten({g2, h4, w4}),
                               std::make_shared<ConvTranspose2d>(g2, c.g_width, 4, 2, 1, 0, true, gen),
                               std::make_shared<BatchNorm2d>(c.g_width), ReLU(),
                               std::make_shared<ConvTranspose2d>(c.g_width, c.channels, 4, 2, 1, 0, true, gen),
                               Tanh()}));
  std::shared_ptr<Module> norm;
  switch (c.d_norm) {
    case DNorm::batch: norm = std::make_shared<BatchNorm2d>(d2); break;
    case DNorm::layer: norm = std::make_shared<LayerNorm>(Shape{d2, h4, w4}); break;
    case DNorm::none: norm = std::make_shared<Lambda>([](const Tensor& x) { return x; }); break;
  }
  D = register_module("D", std::make_shared<Sequential>(std::initializer_list<std::shared_ptr<Module>>{
                               std::make_shared<Conv2d>(c.channels, c.d_width, 4, 2, 1, true, gen), LeakyReLU(0.2),
                               std::make_shared<Conv2d>(c.d_width, d2, 4, 2, 1, true, gen), norm, LeakyReLU(0.2),
                               Flatten(), std::make_shared<Linear>(d2 * h4 * w4, 1, true, gen)}));
  if (c.classes > 0) {
    G_label = register_module("G_label", std::make_shared<Embedding>(c.classes, g2 * h4 * w4, gen));
    NoGradGuard no_grad;
    G_label->weight.zero_();  // no shift until trained, as conditional batch norm's beta
    D_label = register_module("D_label", std::make_shared<Embedding>(c.classes, d2 * h4 * w4, gen, d2 * h4 * w4));
  }
}

// G's layers: 0 linear 1 batch norm 2 relu ...; D's: ... 5 flatten 6 linear.
// G's label joins after G.1; D's projection reads what D.6 reads.
constexpr size_t kGeneratorLabelAfter = 2, kDiscriminatorHead = 6;

Tensor GAN::generate(const Tensor& z, const Labels& y) const {
  NG_CHECK(z.dim() == 2 && z.size(1) == config_.z_dim, "gan: noise ", shape_str(z.shape()), " must be [N,",
           config_.z_dim, "]");
  check_labels(y, config_.classes, z.size(0), "gan");
  if (!conditional()) return (*G)(z);
  const Tensor h = G->forward_range(z, 0, kGeneratorLabelAfter) + G_label->forward(y);
  return G->forward_range(h, kGeneratorLabelAfter, G->size());
}

Tensor GAN::discriminate(const Tensor& x, const Labels& y) const {
  NG_CHECK(x.dim() == 4 && x.size(1) == config_.channels && x.size(2) == config_.height &&
               x.size(3) == config_.width,
           "gan: images ", shape_str(x.shape()), " do not match the model's [N,", config_.channels, ",",
           config_.height, ",", config_.width, "]");
  check_labels(y, config_.classes, x.size(0), "gan");
  if (!conditional()) return (*D)(x).reshape({x.size(0)});
  const Tensor phi = D->forward_range(x, 0, kDiscriminatorHead);
  const Tensor projection = sum(phi * D_label->forward(y), {1});
  return D->forward_range(phi, kDiscriminatorHead, D->size()).reshape({x.size(0)}) + projection;
}

DiscriminatorTerms GAN::discriminator_terms(const Tensor& real, const Tensor& z, const Tensor& alpha,
                                            const GANObjective& o, const Labels& y) const {
  NG_CHECK(o.gp == 0 || config_.d_norm != DNorm::batch,
           "gan: the gradient penalty needs a discriminator without batch norm (it is a per-sample gradient); "
           "use d_norm layer or none");
  Tensor fake;
  {
    NoGradGuard no_grad;
    fake = generate(z, y);
  }
  DiscriminatorTerms t;
  t.real_logits = discriminate(real, y);
  t.fake_logits = discriminate(fake, y);
  t.loss = discriminator_loss(o.loss, t.real_logits, t.fake_logits);
  if (o.gp > 0) {
    t.penalty = gradient_penalty([this, &y](const Tensor& x) { return discriminate(x, y); }, real, fake, alpha);
    t.loss = t.loss + t.penalty * o.gp;
  }
  return t;
}

namespace {

// Takes tensors out of autograd for its scope. G's step needs the gradient
// through D to its input, not D's weight gradients: without them the
// backward skips D's weight-gradient convolutions.
class FrozenScope {
 public:
  explicit FrozenScope(const nn::NamedTensors& params) {
    for (const auto& [name, p] : params)
      if (p.requires_grad()) frozen_.push_back(p);
    for (Tensor& p : frozen_) p.requires_grad_(false);
  }
  ~FrozenScope() {
    for (Tensor& p : frozen_) p.requires_grad_(true);
  }
  FrozenScope(const FrozenScope&) = delete;
  FrozenScope& operator=(const FrozenScope&) = delete;

 private:
  std::vector<Tensor> frozen_;
};

}  // namespace

std::pair<Tensor, Tensor> GAN::generator_terms(const Tensor& z, const GANObjective& o, const Labels& y) const {
  const Tensor fake = generate(z, y);
  Tensor logits;
  {
    FrozenScope frozen(d_parameters());
    logits = discriminate(fake, y);
  }
  return {generator_loss(o.loss, logits), logits};
}

namespace {

// A player's network and class table, its names prefixed as asked.
nn::NamedTensors player(const nn::Sequential& net, const std::shared_ptr<nn::Embedding>& label,
                        const std::string& net_prefix, const std::string& label_name) {
  nn::NamedTensors out;
  for (const auto& [n, t] : net.named_parameters()) out.emplace_back(net_prefix + n, t);
  if (label) out.emplace_back(label_name, label->weight);
  return out;
}

}  // namespace

nn::NamedTensors GAN::g_parameters() const { return player(*G, G_label, "G.", "G_label.weight"); }
nn::NamedTensors GAN::d_parameters() const { return player(*D, D_label, "D.", "D_label.weight"); }
nn::NamedTensors GAN::g_optimized() const { return player(*G, G_label, "", "label.weight"); }
nn::NamedTensors GAN::d_optimized() const { return player(*D, D_label, "", "label.weight"); }

}  // namespace ng::models
