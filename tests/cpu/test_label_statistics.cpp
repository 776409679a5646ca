// Label statistics: entropies, the classifier score and class coverage on
// uniform, one-hot and hand-computed probabilities; input checks.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "engine/nanogen.h"
#include "eval/labels.h"
#include "support/gradcheck.h"

using namespace ng;

static const TensorOptions kF64 = TensorOptions{}.with_dtype(DType::f64);

TEST(LabelStatistics, UniformProbabilities) {
  const eval::LabelStatistics s = eval::label_statistics(full({7, 4}, 0.25, kF64));
  EXPECT_EQ(s.classes, 4);
  EXPECT_NEAR(s.conditional_entropy, std::log(4.0), 1e-14);
  EXPECT_NEAR(s.marginal_entropy, std::log(4.0), 1e-14);
  EXPECT_NEAR(s.classifier_score, 1.0, 1e-14);
  // Every row ties; the first class wins a tie, so the histogram is all class 0.
  EXPECT_EQ(s.histogram, (std::vector<double>{1, 0, 0, 0}));
  EXPECT_EQ(s.classes_covered, 1);
}

TEST(LabelStatistics, OneHotBalanced) {
  std::vector<int64_t> classes;
  for (int64_t i = 0; i < 20; ++i) classes.push_back(i % 5);
  const eval::LabelStatistics s = eval::label_statistics(one_hot(classes, 5, kF64));
  EXPECT_EQ(s.conditional_entropy, 0.0);  // 0 log 0 = 0 exactly, 1 log 1 = 0
  EXPECT_NEAR(s.marginal_entropy, std::log(5.0), 1e-14);
  EXPECT_NEAR(s.classifier_score, 5.0, 1e-13);
  EXPECT_EQ(s.classes_covered, 5);
  for (double h : s.histogram) EXPECT_DOUBLE_EQ(h, 0.2);
}

TEST(LabelStatistics, OneHotAllOneClass) {
  const eval::LabelStatistics s = eval::label_statistics(one_hot({2, 2, 2, 2, 2, 2}, 3, kF64));
  EXPECT_EQ(s.conditional_entropy, 0.0);
  EXPECT_EQ(s.marginal_entropy, 0.0);
  EXPECT_EQ(s.classifier_score, 1.0);
  EXPECT_EQ(s.classes_covered, 1);
  EXPECT_EQ(s.histogram, (std::vector<double>{0, 0, 1}));
}

TEST(LabelStatistics, HandComputedTwoClassCase) {
  // Rows (0.9, 0.1), (0.2, 0.8), (0.6, 0.4), float32 as a classifier gives them.
  // H(0.9,0.1) = 0.9 ln(1/0.9) + 0.1 ln 10     = 0.325082973391448
  // H(0.2,0.8) = 0.2 ln 5 + 0.8 ln 1.25        = 0.500402423538188
  // H(0.6,0.4) = 0.6 ln(5/3) + 0.4 ln 2.5      = 0.673011667009257
  // conditional = their mean                   = 0.499499021312964
  // marginal p = (1.7/3, 1.3/3): H             = 0.684231765130300
  // score = exp(0.684231765130300 - 0.499499021312964) = exp(0.184732743817336) = 1.2028969...
  // (each line evaluated with Python's math.log from the formula on its left)
  const eval::LabelStatistics s =
      eval::label_statistics(from_vector(std::vector<float>{0.9f, 0.1f, 0.2f, 0.8f, 0.6f, 0.4f}, {3, 2}));
  // float32 inputs carry ~3e-8 relative error into the logs.
  EXPECT_NEAR(s.conditional_entropy, 0.499499021312964, 1e-7);
  EXPECT_NEAR(s.marginal_entropy, 0.684231765130300, 1e-7);
  EXPECT_NEAR(s.classifier_score, std::exp(0.184732743817336), 2e-7);
  ASSERT_EQ(s.histogram.size(), 2u);
  EXPECT_NEAR(s.histogram[0], 2.0 / 3.0, 1e-15);
  EXPECT_NEAR(s.histogram[1], 1.0 / 3.0, 1e-15);
  EXPECT_EQ(s.classes_covered, 2);
}

TEST(LabelStatistics, CoverageBoundaryIsHalfTheFairShare) {
  // K = 4: a class is covered from 1/8 of the images on.
  EXPECT_EQ(eval::label_statistics(one_hot({0, 0, 0, 0, 0, 1, 2, 3}, 4, kF64)).classes_covered, 4);     // 1/8 each
  EXPECT_EQ(eval::label_statistics(one_hot({0, 0, 0, 0, 0, 0, 1, 2, 3}, 4, kF64)).classes_covered, 1);  // 1/9 < 1/8
}

TEST(LabelStatistics, ErrorsNameTheProblem) {
  test::expect_error([] { eval::label_statistics(zeros({10}, kF64)); }, {"label_statistics", "[10]", "[N, K]"});
  test::expect_error([] { eval::label_statistics(from_vector(std::vector<double>{2.0, -1.0}, {1, 2})); },
                     {"label_statistics", "row 0", "class 0", "[0, 1]"});
  test::expect_error([] { eval::label_statistics(from_vector(std::vector<double>{0.5, 0.4, 0.3, 0.7}, {2, 2})); },
                     {"label_statistics", "row 0", "sums to 0.9", "logits"});
}
