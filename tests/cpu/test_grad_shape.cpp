// Joining and splitting: cat, stack, chunk and split. Values by hand, float64
// gradient checks (contiguous and not, negative dims, uneven pieces), errors.
#include <gtest/gtest.h>

#include <string>

#include "engine/nanogen.h"
#include "support/gradcheck.h"

using namespace ng;
using test::expect_gradcheck;
using test::expect_gradgradcheck;
using test::non_contiguous;
using test::expect_error;
using test::leaf;
using test::leaf_nc;
using test::uniform;
using Ins = std::vector<Tensor>;

namespace {

Tensor iota(const Shape& s, double start = 0) {
  return arange(start, start + double(shape_numel(s)), 1.0, TensorOptions{}.with_dtype(DType::f64)).reshape(s);
}
std::vector<double> values(const Tensor& t) { return t.to_vector<double>(); }

std::vector<Shape> shapes_of(const std::vector<Tensor>& ts) {
  std::vector<Shape> s;
  for (const Tensor& t : ts) s.push_back(t.shape());
  return s;
}


}  // namespace

// ---- values ---------------------------------------------------------------------------

TEST(Cat, ValuesAlongEachDim) {
  const Tensor a = iota({2, 2}), b = iota({2, 3}, 10), c = iota({1, 2}, 20);
  EXPECT_EQ(values(cat({a, c}, 0)), (std::vector<double>{0, 1, 2, 3, 20, 21}));
  EXPECT_EQ(cat({a, c}, 0).shape(), (Shape{3, 2}));
  EXPECT_EQ(values(cat({a, b}, 1)), (std::vector<double>{0, 1, 10, 11, 12, 2, 3, 13, 14, 15}));
  EXPECT_EQ(values(cat({a, b}, -1)), values(cat({a, b}, 1)));
  // Three inputs, one empty along dim, one non-contiguous.
  const Tensor empty_piece = zeros({2, 0}, TensorOptions{}.with_dtype(DType::f64));
  const Tensor r = cat({non_contiguous(a), empty_piece, b.narrow(1, 1, 2)}, 1);
  EXPECT_EQ(r.shape(), (Shape{2, 4}));
  EXPECT_EQ(values(r), (std::vector<double>{0, 1, 11, 12, 2, 3, 14, 15}));
  // A single input gives a copy, not a view.
  const Tensor one = cat({a});
  EXPECT_FALSE(one.shares_storage(a));
  EXPECT_EQ(values(one), values(a));
}

TEST(Cat, KeepsDtype) {
  const Tensor f = cat({ones({2}), zeros({1})});
  EXPECT_EQ(f.dtype(), DType::f32);
  EXPECT_EQ(f.to_vector<float>(), (std::vector<float>{1, 1, 0}));
  EXPECT_EQ(cat({iota({2}), iota({1})}).dtype(), DType::f64);
}

TEST(Stack, NewDimAnywhere) {
  const Tensor a = iota({2, 3}), b = iota({2, 3}, 10);
  const Tensor s0 = stack({a, b});
  EXPECT_EQ(s0.shape(), (Shape{2, 2, 3}));
  EXPECT_EQ(values(s0), (std::vector<double>{0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15}));
  const Tensor s1 = stack({a, b}, 1);
  EXPECT_EQ(s1.shape(), (Shape{2, 2, 3}));
  EXPECT_EQ(values(s1), (std::vector<double>{0, 1, 2, 10, 11, 12, 3, 4, 5, 13, 14, 15}));
  const Tensor s2 = stack({a, b}, -1);  // after the last dim
  EXPECT_EQ(s2.shape(), (Shape{2, 3, 2}));
  EXPECT_EQ(values(s2), (std::vector<double>{0, 10, 1, 11, 2, 12, 3, 13, 4, 14, 5, 15}));
  EXPECT_EQ(values(stack({a, b}, 2)), values(s2));
  const Tensor scalars = stack({scalar_tensor(1), scalar_tensor(2), scalar_tensor(3)});
  EXPECT_EQ(scalars.shape(), (Shape{3}));
  EXPECT_EQ(scalars.to_vector<float>(), (std::vector<float>{1, 2, 3}));
}

TEST(Chunk, UnevenPiecesAreViews) {
  const Tensor x = iota({7, 2});
  const std::vector<Tensor> c = chunk(x, 3);
  EXPECT_EQ(shapes_of(c), (std::vector<Shape>{{3, 2}, {3, 2}, {1, 2}}));
  EXPECT_EQ(values(c[2]), (std::vector<double>{12, 13}));
  for (const Tensor& p : c) EXPECT_TRUE(p.shares_storage(x));
  // ceil(5 / 4) = 2 per chunk: only three chunks, as in PyTorch.
  EXPECT_EQ(shapes_of(chunk(iota({5}), 4)), (std::vector<Shape>{{2}, {2}, {1}}));
  // More chunks than elements: one element each.
  EXPECT_EQ(shapes_of(chunk(iota({2}), 5)), (std::vector<Shape>{{1}, {1}}));
  // Along a negative dim.
  const std::vector<Tensor> cols = chunk(iota({2, 4}), 2, -1);
  EXPECT_EQ(shapes_of(cols), (std::vector<Shape>{{2, 2}, {2, 2}}));
  EXPECT_EQ(values(cols[1]), (std::vector<double>{2, 3, 6, 7}));
}

TEST(Split, BySizeAndBySizes) {
  const Tensor x = iota({2, 5});
  const std::vector<Tensor> s = split(x, 2, 1);
  EXPECT_EQ(shapes_of(s), (std::vector<Shape>{{2, 2}, {2, 2}, {2, 1}}));
  EXPECT_EQ(values(s[2]), (std::vector<double>{4, 9}));
  const std::vector<Tensor> t = split(x, std::vector<int64_t>{1, 0, 4}, -1);
  EXPECT_EQ(shapes_of(t), (std::vector<Shape>{{2, 1}, {2, 0}, {2, 4}}));
  EXPECT_EQ(values(t[2]), (std::vector<double>{1, 2, 3, 4, 6, 7, 8, 9}));
  EXPECT_TRUE(t[2].shares_storage(x));
  EXPECT_EQ(shapes_of(split(x, 5, -1)), (std::vector<Shape>{{2, 5}}));
  EXPECT_EQ(shapes_of(split(x, 9, 1)), (std::vector<Shape>{{2, 5}}));
  EXPECT_EQ(shapes_of(split(iota({0, 3}), 2)), (std::vector<Shape>{{0, 3}}));
}

TEST(Split, WritesThroughPiecesReachTheBase) {
  Tensor x = zeros({4});
  split(x, 2)[1].fill_(7);
  EXPECT_EQ(x.to_vector<float>(), (std::vector<float>{0, 0, 7, 7}));
}

// ---- gradients ---------------------------------------------------------------------------

TEST(GradCat, AlongEachDim) {
  auto cat0 = [](const Ins& in) { return cat({in[0], in[1], in[2]}, 0); };
  auto cat1 = [](const Ins& in) { return cat({in[0], in[1]}, -1); };
  expect_gradcheck(cat0, {leaf({2, 3}, 1), leaf({1, 3}, 2), leaf({3, 3}, 3)});
  expect_gradcheck(cat0, {leaf_nc({2, 3}, 4), uniform({1, 3}, 5), leaf_nc({3, 3}, 6)});  // middle needs no grad
  expect_gradcheck(cat1, {leaf({2, 2, 1}, 7), leaf({2, 2, 3}, 8)});
  expect_gradcheck(cat1, {leaf_nc({3, 2}, 9), leaf_nc({3, 4}, 10)});
  expect_gradcheck([](const Ins& in) { return cat({in[0], in[0] * 2.0}, 1); }, {leaf({2, 3}, 11)});  // reused input
}

TEST(GradStack, AlongEachDim) {
  for (int64_t d : {0, 1, 2, -1, -3}) {
    expect_gradcheck([d](const Ins& in) { return stack({in[0], in[1], in[2]}, d); },
                     {leaf({2, 3}, 21), leaf_nc({2, 3}, 22), leaf({2, 3}, 23)});
  }
}

TEST(GradChunk, UnevenPiecesAndUnusedPieces) {
  // Each piece transformed differently, so a gradient sent to the wrong place fails.
  expect_gradcheck([](const Ins& in) {
    const std::vector<Tensor> c = chunk(in[0], 3, 0);
    return cat({exp(c[0]), c[1] * 3.0, c[2] * c[2]}, 0);
  }, {leaf({7, 2}, 31)});
  expect_gradcheck([](const Ins& in) {
    const std::vector<Tensor> c = chunk(in[0], 2, -1);
    return c[0] * c[1];
  }, {leaf_nc({3, 4}, 32)});
  // Only the middle piece is used: zero gradient elsewhere.
  Tensor x = leaf({5}, 33);
  sum(chunk(x, 3)[1] * 2.0).backward();
  EXPECT_EQ(values(x.grad()), (std::vector<double>{0, 0, 2, 2, 0}));
}

TEST(GradSplit, BySizeAndBySizes) {
  expect_gradcheck([](const Ins& in) {
    const std::vector<Tensor> s = split(in[0], 2, 1);
    return cat({s[2] * 5.0, sin(s[0]), s[1]}, 1);
  }, {leaf({3, 5}, 41)});
  expect_gradcheck([](const Ins& in) {
    const std::vector<Tensor> s = split(in[0], std::vector<int64_t>{3, 1}, -2);
    return s[0] * s[1];  // [3,2] * [1,2] broadcast
  }, {leaf_nc({4, 2}, 42)});
}

TEST(GradShape, SecondOrder) {
  expect_gradgradcheck([](const Ins& in) {
    const std::vector<Tensor> s = split(in[0], 2);
    return cat({s[0] * s[1], in[1] * in[1]}, 0) * in[0].narrow(0, 0, 4);
  }, {leaf({4, 2}, 51), leaf({2, 2}, 52)});
  expect_gradgradcheck([](const Ins& in) { return stack({in[0] * in[1], in[1]}, 1); },
                       {leaf({3}, 53), leaf({3}, 54)});
}

// ---- errors --------------------------------------------------------------------------

TEST(ShapeOps, ErrorsNameTheShapes) {
  expect_error([] { cat({}); }, {"cat", "empty"});
  expect_error([] { cat({ones({2, 3}), ones({2, 4})}, 0); }, {"cat", "[2,3]", "[2,4]", "dim 0"});
  expect_error([] { cat({ones({2, 3}), ones({3, 3}), ones({2, 3, 1})}, 1); }, {"cat", "[3,3]", "[2,3]"});
  expect_error([] { cat({ones({2, 3}), ones({2, 3, 1})}, 1); }, {"cat", "[2,3,1]", "[2,3]"});
  expect_error([] { cat({ones({2}), ones({2}, TensorOptions{}.with_dtype(DType::f64))}); }, {"cat", "dtype"});
  expect_error([] { cat({ones({2}), ones({2})}, 1); }, {"cat", "dim 1"});
  expect_error([] { cat({ones({2}), ones({2})}, -2); }, {"cat", "dim -2"});
  expect_error([] { cat({scalar_tensor(1), scalar_tensor(2)}); }, {"cat", "zero-dim"});
  expect_error([] { stack({ones({2, 3}), ones({3, 2})}); }, {"stack", "[2,3]", "[3,2]"});
  expect_error([] { stack({ones({2, 3}), ones({2, 3})}, 3); }, {"stack", "dim 3"});
  expect_error([] { chunk(ones({4}), 0); }, {"chunk", "0"});
  expect_error([] { chunk(ones({4}), 2, 1); }, {"chunk", "dim 1"});
  expect_error([] { split(ones({2, 5}), std::vector<int64_t>{2, 2}, 1); }, {"split", "[2,2]", "[2,5]", "5"});
  expect_error([] { split(ones({5}), std::vector<int64_t>{6, -1}); }, {"split", "negative"});
  expect_error([] { split(ones({5}), 0); }, {"split", "[5]"});
  expect_error([] { split(scalar_tensor(1), 1); }, {"split", "zero-dim"});
}
