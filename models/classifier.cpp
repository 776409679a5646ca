#include "models/classifier.h"

#include "engine/nanogen.h"
#include "models/labels.h"

namespace ng::models {

namespace {

// nn::Dropout draws from the process-wide generator; this one draws from
// the generator its classifier points it at.
class StreamDropout : public nn::Module {
 public:
  StreamDropout(double p, Generator** gen) : p_(p), gen_(gen) {}
  Tensor forward(const Tensor& x) override { return dropout(x, p_, is_training(), **gen_); }

 private:
  double p_;
  Generator** gen_;
};

std::shared_ptr<nn::Module> AvgPool2() {
  return std::make_shared<nn::Lambda>([](const Tensor& x) { return avg_pool2d(x, 2); });
}

}  // namespace

Classifier::Classifier(const ClassifierConfig& c, Generator& gen) : config_(c), dropout_gen_(&default_generator()) {
  NG_CHECK(c.channels > 0 && c.classes > 1 && c.feature_dim > 0 && c.conv1 > 0 && c.conv2 > 0,
           "classifier: channels ", c.channels, ", classes ", c.classes, ", feature_dim ", c.feature_dim,
           ", conv widths ", c.conv1, "/", c.conv2, " must be positive (and classes at least 2)");
  NG_CHECK(c.height > 0 && c.width > 0 && c.height % 4 == 0 && c.width % 4 == 0, "classifier: image size ",
           c.height, "x", c.width, " must be positive and divisible by 4 (two 2x2 average pools)");
  NG_CHECK(c.dropout >= 0 && c.dropout < 1, "classifier: dropout ", c.dropout, " must be in [0, 1)");
  const int64_t flat = c.conv2 * (c.height / 4) * (c.width / 4);
  using nn::Conv2d, nn::Linear, nn::ReLU;
  body = register_module("body", std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
                                     std::make_shared<Conv2d>(c.channels, c.conv1, 3, 1, 1, true, gen), ReLU(),
                                     std::make_shared<Conv2d>(c.conv1, c.conv1, 3, 1, 1, true, gen), ReLU(),
                                     AvgPool2(),
                                     std::make_shared<Conv2d>(c.conv1, c.conv2, 3, 1, 1, true, gen), ReLU(),
                                     std::make_shared<Conv2d>(c.conv2, c.conv2, 3, 1, 1, true, gen), ReLU(),
                                     AvgPool2(), nn::Flatten(),
                                     std::make_shared<Linear>(flat, c.feature_dim, true, gen), ReLU()}));
  head = register_module("head", std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
                                     std::make_shared<StreamDropout>(c.dropout, &dropout_gen_),
                                     std::make_shared<Linear>(c.feature_dim, c.classes, true, gen)}));
}

int64_t Classifier::parameter_count(const ClassifierConfig& c) {
  int64_t total = 0;
  bool overflow = false;
  auto add = [&](std::initializer_list<int64_t> factors) {  // a weight's elements, or a bias's
    int64_t n = 1;
    for (int64_t f : factors) overflow |= __builtin_mul_overflow(n, f, &n);
    overflow |= __builtin_add_overflow(total, n, &total);
  };
  auto conv = [&](int64_t in, int64_t out) { add({out, in, 3, 3}), add({out}); };
  auto linear = [&](std::initializer_list<int64_t> in, int64_t out) {
    int64_t fan_in = 1;
    for (int64_t f : in) overflow |= __builtin_mul_overflow(fan_in, f, &fan_in);
    add({out, fan_in}), add({out});
  };
  conv(c.channels, c.conv1);
  conv(c.conv1, c.conv1);
  conv(c.conv1, c.conv2);
  conv(c.conv2, c.conv2);
  linear({c.conv2, c.height / 4, c.width / 4}, c.feature_dim);
  linear({c.feature_dim}, c.classes);
  return overflow ? INT64_MAX : total;
}

void Classifier::set_dropout_generator(Generator& gen) { dropout_gen_ = &gen; }

Tensor Classifier::features(const Tensor& images) const {
  const ClassifierConfig& c = config_;
  NG_CHECK(images.dim() == 4 && images.size(1) == c.channels && images.size(2) == c.height &&
               images.size(3) == c.width,
           "classifier: input ", shape_str(images.shape()), " does not match the classifier's images [N,", c.channels,
           ",", c.height, ",", c.width, "] (it was trained on ", c.channels, "-channel ", c.height, "x", c.width,
           " images)");
  return (*body)(images);
}

Tensor Classifier::logits_from_features(const Tensor& features) const {
  NG_CHECK(features.dim() == 2 && features.size(1) == config_.feature_dim, "classifier: features ",
           shape_str(features.shape()), " must be [N, ", config_.feature_dim, "]");
  return (*head)(features);
}

Tensor cross_entropy(const Tensor& logits, const std::vector<int>& labels) {
  NG_CHECK(logits.dim() == 2 && logits.size(0) == int64_t(labels.size()) && logits.size(0) > 0,
           "cross_entropy: logits ", shape_str(logits.shape()), " must be [N, K] with N = ", labels.size(),
           " labels (N > 0)");
  const Tensor target = ng::one_hot(to_labels(labels), logits.size(1), logits.options());
  return sum(log_softmax(logits, 1) * target) * (-1.0 / double(labels.size()));
}

std::vector<int> predicted_classes(const Tensor& logits) {
  NG_CHECK(logits.dim() == 2 && logits.size(1) > 0, "predicted_classes: logits ", shape_str(logits.shape()),
           " must be [N, K]");
  const int64_t n = logits.size(0), k = logits.size(1);
  const std::vector<float> v = logits.to(Device::cpu()).to_vector<float>();
  std::vector<int> classes(size_t(n), 0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 1; j < k; ++j)
      if (v[size_t(i * k + j)] > v[size_t(i * k + classes[size_t(i)])]) classes[size_t(i)] = int(j);
  return classes;
}

Tensor accuracy(const Tensor& logits, const std::vector<int>& labels) {
  NG_CHECK(logits.dim() == 2 && logits.size(0) == int64_t(labels.size()) && logits.size(0) > 0,
           "accuracy: logits ", shape_str(logits.shape()), " must be [N, K] with N = ", labels.size(), " labels (N > 0)");
  NoGradGuard no_grad;
  const TensorOptions f64 = logits.options().with_dtype(DType::f64);
  const Tensor hits = eq(argmax(logits.detach(), 1).to(DType::f64), index_tensor(to_labels(labels), f64));
  return mean(hits);  // float64: the count is exact and divided once, as double(correct) / n is
}

ClassifierReport evaluate_classifier(const models::Classifier& model, const Tensor& images,
                                     const std::vector<int>& labels, int64_t batch_size, Device device) {
  NG_CHECK(images.dim() == 4 && images.size(0) == int64_t(labels.size()), "evaluate_classifier: images ",
           shape_str(images.shape()), " and ", labels.size(), " labels do not match");
  NoGradGuard no_grad;
  ClassifierReport r;
  int64_t correct = 0;
  for (int64_t start = 0; start < images.size(0); start += batch_size) {
    const int64_t n = std::min(batch_size, images.size(0) - start);
    const std::vector<int> y(labels.begin() + start, labels.begin() + start + n);
    const Tensor logits = model.logits(images.narrow(0, start, n).to(device));
    r.loss += models::cross_entropy(logits, y).item() * double(n);
    const std::vector<int> predicted = models::predicted_classes(logits);
    for (int64_t i = 0; i < n; ++i) correct += predicted[size_t(i)] == y[size_t(i)];
    r.images += n;
  }
  if (r.images > 0) {
    r.loss /= double(r.images);
    r.accuracy = double(correct) / double(r.images);
  }
  return r;
}

}  // namespace ng::models
