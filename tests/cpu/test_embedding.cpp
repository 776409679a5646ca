// one_hot and embedding (engine/ops/embedding.h): exact lookups, the
// gradient summed per index, and the errors.
#include <gtest/gtest.h>

#include "engine/nanogen.h"
#include "engine/nn/layers.h"
#include "support/gradcheck.h"

using namespace ng;
using ng::test::expect_error;
using ng::test::leaf;

TEST(OneHot, PutsOneOneInEachRow) {
  const Tensor t = one_hot({2, 0, 2}, 4);
  EXPECT_EQ(t.shape(), (Shape{3, 4}));
  EXPECT_EQ(t.dtype(), DType::f32);
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1, 0}));
  EXPECT_EQ(one_hot({1}, 2, TensorOptions{}.with_dtype(DType::f64)).dtype(), DType::f64);
  expect_error([] { one_hot({0, 4}, 4); }, {"one_hot", "index 4", "position 1", "[0, 4)"});
  expect_error([] { one_hot({-1}, 4); }, {"index -1"});
  expect_error([] { one_hot({0}, 0); }, {"classes must be positive"});
}

TEST(Embedding, LooksUpRowsExactly) {
  // Values with every mantissa bit in use: a product rounded to tf32 or a
  // sum that is not exact would change them.
  const Tensor w = test::uniform({5, 3}, 7, -1, 1, DType::f32) * 1.2345678;
  const Tensor out = embedding(w, {4, 0, 4, 2});
  const std::vector<float> wv = w.to_vector<float>(), ov = out.to_vector<float>();
  const std::vector<int64_t> rows = {4, 0, 4, 2};
  ASSERT_EQ(out.shape(), (Shape{4, 3}));
  for (size_t i = 0; i < rows.size(); ++i)
    for (size_t j = 0; j < 3; ++j) EXPECT_EQ(ov[i * 3 + j], wv[size_t(rows[i]) * 3 + j]) << i << "," << j;
  // Under tf32 too (the lookup runs in fp32 whatever the precision).
  MatmulPrecisionGuard tf32(MatmulPrecision::tf32);
  EXPECT_EQ(embedding(w, {1}).to_vector<float>(), w.narrow(0, 1, 1).contiguous().to_vector<float>());
}

TEST(Embedding, GradientSumsTheRowsOfEachIndex) {
  const Tensor w = leaf({4, 3}, 11);
  const Tensor g = test::uniform({5, 3}, 12);
  sum(embedding(w, {1, 3, 1, 1, 0}) * g).backward();
  // Row 1 was looked up three times, row 2 never.
  const Tensor expected = stack({g.narrow(0, 4, 1).reshape({3}),
                                 (g.narrow(0, 0, 1) + g.narrow(0, 2, 1) + g.narrow(0, 3, 1)).reshape({3}),
                                 zeros({3}, TensorOptions{}.with_dtype(DType::f64)), g.narrow(0, 1, 1).reshape({3})},
                                0);
  test::expect_close(w.grad(), expected, 1e-15);
}

TEST(Embedding, Gradcheck) {
  test::expect_gradcheck([](const std::vector<Tensor>& in) { return embedding(in[0], {2, 0, 2, 1}); },
                         {leaf({3, 4}, 21)});
  test::expect_gradgradcheck([](const std::vector<Tensor>& in) { return square(embedding(in[0], {2, 0, 2})); },
                             {leaf({3, 2}, 22)});
}

TEST(Embedding, ErrorsSayWhatWasWrong) {
  expect_error([] { embedding(zeros({3}), {0}); }, {"embedding", "[3]", "[num, dim]"});
  expect_error([] { embedding(zeros({3, 2}), {}); }, {"embedding", "no indices"});
  expect_error([] { embedding(zeros({3, 2}), {3}); }, {"index 3", "[0, 3)"});
}

TEST(EmbeddingModule, InitialisesAsDocumented) {
  Generator gen(5);
  nn::Embedding normal(1000, 10, gen);
  const std::vector<float> v = normal.weight.to_vector<float>();
  double mean = 0, sq = 0;
  for (float x : v) mean += x / double(v.size());
  for (float x : v) sq += (x - mean) * (x - mean) / double(v.size());
  EXPECT_NEAR(mean, 0.0, 0.02);
  EXPECT_NEAR(sq, 1.0, 0.03);  // N(0, 1)
  nn::Embedding like_linear(10, 100, gen, 25);
  for (float x : like_linear.weight.to_vector<float>()) EXPECT_LE(std::abs(x), 0.2f);  // U(-1/5, 1/5)
  EXPECT_EQ(like_linear.named_parameters().at(0).first, "weight");
  EXPECT_EQ(like_linear.forward(std::vector<int64_t>{3}).shape(), (Shape{1, 100}));
  expect_error([&] { like_linear.forward(zeros({2})); }, {"Embedding", "list of indices"});
}
