#include "models/guidance.h"

#include "engine/nanogen.h"

namespace ng::models {

EpsPredictor labelled_predictor(UNet& model, const Labels& y) {
  return [&model, y](const Tensor& x, const Tensor& t) { return model.forward(x, t, y); };
}

EpsPredictor unconditional_predictor(UNet& model) {
  return [&model](const Tensor& x, const Tensor& t) {
    return model.conditional() ? model.forward(x, t, Labels(size_t(x.size(0)), model.null_label()))
                               : model.forward(x, t);
  };
}

EpsPredictor guided_predictor(UNet& model, const Labels& y, double s) {
  NG_CHECK(model.conditional(), "guidance: the model is not class-conditional (train it with --conditional)");
  NG_CHECK(std::isfinite(s) && s >= 0, "guidance: the scale must be a finite number >= 0, got ", s);
  check_labels(y, model.config().classes, int64_t(y.size()), "guidance");
  const Labels none(y.size(), model.null_label());
  if (s == 1.0) return labelled_predictor(model, y);
  if (s == 0.0) return labelled_predictor(model, none);
  Labels both = y;
  both.insert(both.end(), none.begin(), none.end());
  return [&model, both, s](const Tensor& x, const Tensor& t) {
    const std::vector<Tensor> eps = chunk(model.forward(cat({x, x}, 0), cat({t, t}, 0), both), 2, 0);
    const Tensor& conditional = eps[0];
    const Tensor& unconditional = eps[1];
    return unconditional + (conditional - unconditional) * s;
  };
}

Labels drop_labels(const Labels& y, double p, int64_t null_label, Generator& gen) {
  NG_CHECK(p >= 0 && p <= 1, "label dropout: the probability must be in [0, 1], got ", p);
  if (y.empty()) return y;
  const std::vector<float> u = rand({int64_t(y.size())}, gen).to_vector<float>();
  Labels out = y;
  for (size_t i = 0; i < y.size(); ++i)
    if (double(u[i]) < p) out[i] = null_label;
  return out;
}

}  // namespace ng::models
