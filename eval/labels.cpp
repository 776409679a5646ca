// Label statistics of generated images under the feature classifier:
// entropies, the classifier score and class coverage.
#include "eval/labels.h"

#include <cmath>

#include "engine/error.h"

namespace ng::eval {

namespace {

// Entropy in nats of a distribution p[0..k), with 0 log 0 = 0 (its limit).
double entropy(const double* p, int64_t k) {
  double h = 0;
  for (int64_t c = 0; c < k; ++c)
    if (p[c] > 0) h -= p[c] * std::log(p[c]);
  return h;
}

}  // namespace

LabelStatistics label_statistics(const Tensor& probabilities) {
  const char* op = "label_statistics";
  NG_CHECK(probabilities.defined() && probabilities.dim() == 2, op, ": probabilities must be [N, K], got ",
           probabilities.defined() ? shape_str(probabilities.shape()) : "an undefined tensor");
  NG_CHECK(probabilities.device().is_cpu(), op, ": probabilities ", shape_str(probabilities.shape()), " are on ",
           probabilities.device().str(), "; expected the CPU");
  const int64_t n = probabilities.size(0), k = probabilities.size(1);
  NG_CHECK(n >= 1 && k >= 1, op, ": probabilities ", shape_str(probabilities.shape()), " are empty");
  const std::vector<double> p = probabilities.detach().to_vector<double>();

  LabelStatistics s;
  s.classes = k;
  std::vector<double> marginal(size_t(k), 0.0);
  std::vector<int64_t> argmax_count(size_t(k), 0);
  double conditional = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double* row = p.data() + i * k;
    double total = 0;
    int64_t top = 0;
    for (int64_t c = 0; c < k; ++c) {
      NG_CHECK(row[c] >= 0 && row[c] <= 1, op, ": row ", i, " of probabilities ", shape_str(probabilities.shape()),
               " has p = ", row[c], " for class ", c, "; expected a value in [0, 1]");
      total += row[c];
      marginal[size_t(c)] += row[c];
      if (row[c] > row[top]) top = c;  // ties go to the first class
    }
    // float32 softmax rows sum to 1 within ~1e-7; 1e-4 still catches logits passed by mistake.
    NG_CHECK(std::fabs(total - 1) <= 1e-4, op, ": row ", i, " of probabilities ", shape_str(probabilities.shape()),
             " sums to ", total, "; expected 1 (pass softmax outputs, not logits)");
    conditional += entropy(row, k);
    ++argmax_count[size_t(top)];
  }
  for (double& m : marginal) m /= double(n);

  s.conditional_entropy = conditional / double(n);
  s.marginal_entropy = entropy(marginal.data(), k);
  // E_x KL(p(y|x) || p(y)) = H(p(y)) - E_x H(p(y|x)): the cross terms
  // average to sum_y p(y) log p(y) because p(y) is the mean of p(y|x).
  s.classifier_score = std::exp(s.marginal_entropy - s.conditional_entropy);
  s.histogram.resize(size_t(k));
  for (int64_t c = 0; c < k; ++c) {
    s.histogram[size_t(c)] = double(argmax_count[size_t(c)]) / double(n);
    // count / n >= 1 / (2K), compared in integers so that the boundary is exact.
    if (2 * k * argmax_count[size_t(c)] >= n) ++s.classes_covered;
  }
  return s;
}

}  // namespace ng::eval
