// conv2d, conv_transpose2d, conv2d_input and conv2d_weight: values against
// naive loops written here, the adjoint identities that tie them together,
// float64 gradient checks of every argument (first and second order), and
// the argument errors.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <string>

#include "engine/nanogen.h"
#include "engine/nn/layers.h"
#include "support/gradcheck.h"

using namespace ng;
using test::error_of;
using test::expect_close;
using test::expect_gradcheck;
using test::expect_gradgradcheck;
using test::non_contiguous;
using test::expect_error;
using test::leaf;
using test::leaf_nc;
using test::uniform;
using Ins = std::vector<Tensor>;

namespace {

const TensorOptions kF64 = TensorOptions{}.with_dtype(DType::f64);


// y[n,co,oh,ow] = b[co] + sum_{ci,ki,kj} w[co,ci,ki,kj] x[n,ci,oh*s-p+ki,ow*s-p+kj],
// the taps outside x reading zero. Seven loops, float64, no cleverness.
Tensor naive_conv2d(const Tensor& x, const Tensor& w, const Tensor& b, int64_t s, int64_t p) {
  const int64_t n = x.size(0), ci = x.size(1), h = x.size(2), wd = x.size(3);
  const int64_t co = w.size(0), kh = w.size(2), kw = w.size(3);
  const int64_t ho = (h + 2 * p - kh) / s + 1, wo = (wd + 2 * p - kw) / s + 1;
  const std::vector<double> xv = x.to_vector<double>(), wv = w.to_vector<double>();
  const std::vector<double> bv = b.defined() ? b.to_vector<double>() : std::vector<double>(size_t(co), 0.0);
  std::vector<double> y(size_t(n * co * ho * wo));
  for (int64_t in = 0; in < n; ++in)
    for (int64_t o = 0; o < co; ++o)
      for (int64_t oh = 0; oh < ho; ++oh)
        for (int64_t ow = 0; ow < wo; ++ow) {
          double acc = bv[size_t(o)];
          for (int64_t c = 0; c < ci; ++c)
            for (int64_t ki = 0; ki < kh; ++ki)
              for (int64_t kj = 0; kj < kw; ++kj) {
                const int64_t ih = oh * s - p + ki, iw = ow * s - p + kj;
                if (ih < 0 || ih >= h || iw < 0 || iw >= wd) continue;
                acc += wv[size_t(((o * ci + c) * kh + ki) * kw + kj)] * xv[size_t(((in * ci + c) * h + ih) * wd + iw)];
              }
          y[size_t(((in * co + o) * ho + oh) * wo + ow)] = acc;
        }
  return from_vector(y, {n, co, ho, wo});
}

// Every input pixel scatters x[n,ci,i,j] * w[ci,co,ki,kj] to output pixel
// (i*s-p+ki, j*s-p+kj) when that lies inside the [Ho,Wo] output.
Tensor naive_conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor& b, int64_t s, int64_t p,
                              int64_t op) {
  const int64_t n = x.size(0), ci = x.size(1), h = x.size(2), wd = x.size(3);
  const int64_t co = w.size(1), kh = w.size(2), kw = w.size(3);
  const int64_t ho = (h - 1) * s - 2 * p + kh + op, wo = (wd - 1) * s - 2 * p + kw + op;
  const std::vector<double> xv = x.to_vector<double>(), wv = w.to_vector<double>();
  std::vector<double> y(size_t(n * co * ho * wo), 0.0);
  if (b.defined()) {
    const std::vector<double> bv = b.to_vector<double>();
    for (int64_t in = 0; in < n; ++in)
      for (int64_t o = 0; o < co; ++o)
        for (int64_t k = 0; k < ho * wo; ++k) y[size_t((in * co + o) * ho * wo + k)] = bv[size_t(o)];
  }
  for (int64_t in = 0; in < n; ++in)
    for (int64_t c = 0; c < ci; ++c)
      for (int64_t i = 0; i < h; ++i)
        for (int64_t j = 0; j < wd; ++j)
          for (int64_t o = 0; o < co; ++o)
            for (int64_t ki = 0; ki < kh; ++ki)
              for (int64_t kj = 0; kj < kw; ++kj) {
                const int64_t oh = i * s - p + ki, ow = j * s - p + kj;
                if (oh < 0 || oh >= ho || ow < 0 || ow >= wo) continue;
                y[size_t(((in * co + o) * ho + oh) * wo + ow)] +=
                    xv[size_t(((in * ci + c) * h + i) * wd + j)] * wv[size_t(((c * co + o) * kh + ki) * kw + kj)];
              }
  return from_vector(y, {n, co, ho, wo});
}

double dot(const Tensor& a, const Tensor& b) {
  NoGradGuard no_grad;
  return sum(a * b).item();
}

#define EXPECT_CONTAINS(text, piece) EXPECT_NE((text).find(piece), std::string::npos) << (text)

struct ConvCase {
  int64_t n, c_in, c_out, h, w, kh, kw, stride, padding;
  bool bias;
};

// Awkward sizes: odd and unequal H/W, strides 1-3, padding 0-2, kernels
// 3 and 4 (and rectangular), with and without bias.
const ConvCase kCases[] = {
    {2, 3, 5, 7, 9, 3, 3, 1, 1, true},  {2, 3, 5, 11, 10, 4, 4, 2, 1, false}, {1, 3, 5, 13, 8, 3, 4, 3, 2, true},
    {3, 1, 4, 5, 5, 4, 4, 2, 0, true},  {2, 2, 3, 6, 7, 3, 3, 3, 0, false},   {2, 3, 5, 4, 4, 4, 4, 1, 2, true},
    {1, 3, 5, 9, 6, 4, 3, 2, 2, false},
};

}  // namespace

// ---- values ----------------------------------------------------------------------

TEST(Conv2d, MatchesNaiveLoopsFloat64) {
  uint64_t seed = 1;
  for (const ConvCase& c : kCases) {
    const Tensor x = uniform({c.n, c.c_in, c.h, c.w}, seed++), w = uniform({c.c_out, c.c_in, c.kh, c.kw}, seed++);
    const Tensor b = c.bias ? uniform({c.c_out}, seed++) : Tensor();
    SCOPED_TRACE(shape_str(x.shape()) + " * " + shape_str(w.shape()) + " s" + std::to_string(c.stride) + " p" +
                 std::to_string(c.padding));
    expect_close(conv2d(x, w, b, c.stride, c.padding), naive_conv2d(x, w, b, c.stride, c.padding), 1e-12);
  }
}

TEST(Conv2d, MatchesNaiveLoopsFloat32) {
  uint64_t seed = 100;
  for (const ConvCase& c : kCases) {
    const Tensor x = uniform({c.n, c.c_in, c.h, c.w}, seed++), w = uniform({c.c_out, c.c_in, c.kh, c.kw}, seed++);
    const Tensor b = c.bias ? uniform({c.c_out}, seed++) : Tensor();
    const Tensor y = conv2d(x.to(DType::f32), w.to(DType::f32), b.defined() ? b.to(DType::f32) : b, c.stride,
                            c.padding);
    EXPECT_EQ(y.dtype(), DType::f32);
    expect_close(y, naive_conv2d(x, w, b, c.stride, c.padding), 1e-5, 1e-5);
  }
}

TEST(Conv2d, NonContiguousOperands) {
  const Tensor x = uniform({2, 3, 7, 6}, 11), w = uniform({4, 3, 3, 3}, 12), b = uniform({4}, 13);
  const Tensor expected = naive_conv2d(x, w, b, 2, 1);
  expect_close(conv2d(non_contiguous(x), non_contiguous(w), non_contiguous(b), 2, 1), expected, 1e-12);
  // A channel slice of a bigger batch: strided in C.
  const Tensor wide = uniform({2, 6, 7, 6}, 14);
  const Tensor every_other = wide.slice(1, 0, 6, 2);
  expect_close(conv2d(every_other, w, b, 2, 1), naive_conv2d(every_other.contiguous(), w, b, 2, 1), 1e-12);
}

TEST(Conv2d, VaeShapes) {
  // The canonical encoder layers, on a batch of 2.
  const Tensor x = uniform({2, 1, 28, 28}, 21, 0, 1, DType::f32), w1 = uniform({32, 1, 4, 4}, 22, -0.3, 0.3, DType::f32);
  const Tensor b1 = uniform({32}, 23, -0.1, 0.1, DType::f32);
  const Tensor h = conv2d(x, w1, b1, 2, 1);
  ASSERT_EQ(h.shape(), (Shape{2, 32, 14, 14}));
  expect_close(h, naive_conv2d(x, w1, b1, 2, 1), 1e-5, 1e-5);
  const Tensor w2 = uniform({64, 32, 4, 4}, 24, -0.1, 0.1, DType::f32);
  const Tensor y = conv2d(h, w2, {}, 2, 1);
  ASSERT_EQ(y.shape(), (Shape{2, 64, 7, 7}));
  expect_close(y, naive_conv2d(h, w2, {}, 2, 1), 1e-5, 1e-5);
}

TEST(Conv2d, BigImagesGoThroughSeveralChunks) {
  // 256 x 361 im2col entries per image: with the 2^18-element column budget
  // of engine/cpu/conv.cpp the kernels take two images, then one.
  const Tensor x = uniform({3, 16, 20, 20}, 31), w = uniform({2, 16, 4, 4}, 32), b = uniform({2}, 33);
  const Tensor y = conv2d(x, w, b, 1, 1);
  expect_close(y, naive_conv2d(x, w, b, 1, 1), 1e-11);
  // The two gradients through the same chunking, by their defining identities.
  const Tensor g = uniform(y.shape(), 34), v = uniform(w.shape(), 35);
  EXPECT_NEAR(dot(conv2d_weight(x, g, 4, 4, 1, 1), v), dot(g, conv2d(x, v, {}, 1, 1)), 1e-9);
  EXPECT_NEAR(dot(conv2d_input(g, w, 20, 20, 1, 1), x), dot(g, conv2d(x, w, {}, 1, 1)), 1e-9);
  // One image bigger than the budget on its own.
  const Tensor big = uniform({2, 64, 30, 30}, 36), wb = uniform({1, 64, 4, 4}, 37);
  expect_close(conv2d(big, wb, {}, 1, 1), naive_conv2d(big, wb, {}, 1, 1), 1e-11);
}

TEST(ConvTranspose2d, MatchesNaiveScatter) {
  struct Case {
    int64_t n, c_in, c_out, h, w, kh, kw, stride, padding, output_padding;
    bool bias;
  };
  const Case cases[] = {{2, 3, 5, 4, 5, 3, 3, 1, 1, 0, true}, {2, 3, 5, 5, 4, 4, 4, 2, 1, 1, false},
                        {1, 3, 5, 3, 4, 3, 4, 3, 0, 2, true}, {2, 2, 3, 4, 3, 4, 3, 3, 2, 1, true},
                        {1, 5, 3, 7, 7, 4, 4, 2, 1, 0, true}};
  uint64_t seed = 41;
  for (const Case& c : cases) {
    const Tensor x = uniform({c.n, c.c_in, c.h, c.w}, seed++), w = uniform({c.c_in, c.c_out, c.kh, c.kw}, seed++);
    const Tensor b = c.bias ? uniform({c.c_out}, seed++) : Tensor();
    const Tensor expected = naive_conv_transpose2d(x, w, b, c.stride, c.padding, c.output_padding);
    SCOPED_TRACE(shape_str(x.shape()) + " * " + shape_str(w.shape()) + " -> " + shape_str(expected.shape()));
    expect_close(conv_transpose2d(x, w, b, c.stride, c.padding, c.output_padding), expected, 1e-12);
    expect_close(conv_transpose2d(non_contiguous(x), non_contiguous(w), b, c.stride, c.padding, c.output_padding),
                 expected, 1e-12);
    const Tensor y32 = conv_transpose2d(x.to(DType::f32), w.to(DType::f32), b.defined() ? b.to(DType::f32) : b,
                                        c.stride, c.padding, c.output_padding);
    expect_close(y32, expected, 1e-5, 1e-5);
  }
}

TEST(ConvTranspose2d, IsTheAdjointOfConv2d) {
  // <conv2d(x, w), y> == <x, conv_transpose2d(y, w)>, with the output_padding
  // that gives back x's size (odd and even sizes, stride 1 to 3).
  const ConvCase cases[] = {{2, 3, 5, 7, 9, 3, 3, 1, 1, false}, {2, 3, 5, 11, 10, 4, 4, 2, 1, false},
                            {1, 3, 5, 13, 8, 3, 4, 3, 2, false}, {2, 4, 2, 14, 14, 4, 4, 2, 1, false}};
  uint64_t seed = 61;
  for (const ConvCase& c : cases) {
    const Tensor x = uniform({c.n, c.c_in, c.h, c.w}, seed++), w = uniform({c.c_out, c.c_in, c.kh, c.kw}, seed++);
    const Tensor cx = conv2d(x, w, {}, c.stride, c.padding);
    const Tensor y = uniform(cx.shape(), seed++);
    const int64_t oph = (c.h + 2 * c.padding - c.kh) % c.stride, opw = (c.w + 2 * c.padding - c.kw) % c.stride;
    if (oph == opw) {
      const Tensor ty = conv_transpose2d(y, w, {}, c.stride, c.padding, oph);
      ASSERT_EQ(ty.shape(), x.shape());
      EXPECT_NEAR(dot(cx, y), dot(x, ty), 1e-10);
    }
    const Tensor ty = conv2d_input(y, w, c.h, c.w, c.stride, c.padding);  // any H, W
    ASSERT_EQ(ty.shape(), x.shape());
    EXPECT_NEAR(dot(cx, y), dot(x, ty), 1e-10);
  }
}

TEST(ConvTranspose2d, VaeDecoderShapes) {
  const Tensor z = uniform({2, 64, 7, 7}, 71, -1, 1, DType::f32), w1 = uniform({64, 32, 4, 4}, 72, -0.1, 0.1, DType::f32);
  const Tensor h = conv_transpose2d(z, w1, uniform({32}, 73, -0.1, 0.1, DType::f32), 2, 1);
  ASSERT_EQ(h.shape(), (Shape{2, 32, 14, 14}));
  const Tensor w2 = uniform({32, 1, 4, 4}, 74, -0.3, 0.3, DType::f32);
  const Tensor y = conv_transpose2d(h, w2, {}, 2, 1);
  ASSERT_EQ(y.shape(), (Shape{2, 1, 28, 28}));
  expect_close(y, naive_conv_transpose2d(h, w2, {}, 2, 1, 0), 1e-5, 1e-5);
}

TEST(Conv2dWeight, MatchesItsDefinition) {
  // dw = d<conv2d(x, w), g>/dw, so <conv2d_weight(x, g), v> == <g, conv2d(x, v)>.
  uint64_t seed = 81;
  for (const ConvCase& c : kCases) {
    const Tensor x = uniform({c.n, c.c_in, c.h, c.w}, seed++), v = uniform({c.c_out, c.c_in, c.kh, c.kw}, seed++);
    const Tensor cv = conv2d(x, v, {}, c.stride, c.padding);
    const Tensor g = uniform(cv.shape(), seed++);
    const Tensor dw = conv2d_weight(x, g, c.kh, c.kw, c.stride, c.padding);
    ASSERT_EQ(dw.shape(), v.shape());
    EXPECT_NEAR(dot(dw, v), dot(g, cv), 1e-10);
    // float32 agrees with float64.
    expect_close(conv2d_weight(x.to(DType::f32), g.to(DType::f32), c.kh, c.kw, c.stride, c.padding), dw, 1e-4,
                 1e-5);
  }
}

TEST(Conv2d, EmptyBatch) {
  const Tensor x = zeros({0, 3, 8, 8}, kF64), w = uniform({4, 3, 3, 3}, 91);
  const Tensor y = conv2d(x, w, {}, 1, 1);
  EXPECT_EQ(y.shape(), (Shape{0, 4, 8, 8}));
  const Tensor dw = conv2d_weight(x, y, 3, 3, 1, 1);
  EXPECT_EQ(dw.to_vector<double>(), std::vector<double>(size_t(4 * 3 * 3 * 3), 0.0));
}

// ---- gradients -----------------------------------------------------------------

TEST(GradConv, Conv2dInputWeightBias) {
  auto f = [](int64_t s, int64_t p) {
    return [s, p](const Ins& in) { return conv2d(in[0], in[1], in[2], s, p); };
  };
  // H=6 needs output_padding 1 in the input gradient, W=5 needs 0.
  expect_gradcheck(f(2, 1), {leaf({2, 3, 6, 5}, 101), leaf({4, 3, 3, 3}, 102), leaf({4}, 103)});
  expect_gradcheck(f(1, 0), {leaf_nc({1, 2, 5, 4}, 104), leaf_nc({3, 2, 2, 3}, 105), leaf({3}, 106)});
  expect_gradcheck(f(3, 2), {leaf({2, 2, 7, 6}, 107), leaf({2, 2, 4, 4}, 108), leaf({2}, 109)});
  expect_gradcheck([](const Ins& in) { return conv2d(in[0], in[1], {}, 2, 0); },
                   {leaf({2, 2, 5, 5}, 110), leaf({3, 2, 3, 3}, 111)});
}

TEST(GradConv, ConvTranspose2dInputWeightBias) {
  auto f = [](int64_t s, int64_t p, int64_t op) {
    return [s, p, op](const Ins& in) { return conv_transpose2d(in[0], in[1], in[2], s, p, op); };
  };
  expect_gradcheck(f(2, 1, 1), {leaf({2, 3, 3, 4}, 121), leaf({3, 2, 3, 3}, 122), leaf({2}, 123)});
  expect_gradcheck(f(1, 0, 0), {leaf_nc({1, 2, 4, 3}, 124), leaf_nc({2, 3, 2, 3}, 125), leaf({3}, 126)});
  expect_gradcheck(f(3, 2, 2), {leaf({2, 2, 3, 3}, 127), leaf({2, 2, 4, 4}, 128), leaf({2}, 129)});
}

TEST(GradConv, GradientOpsThemselves) {
  expect_gradcheck([](const Ins& in) { return conv2d_weight(in[0], in[1], 3, 2, 2, 1); },
                   {leaf({2, 2, 5, 6}, 131), leaf({2, 3, 3, 4}, 132)});
  expect_gradcheck([](const Ins& in) { return conv2d_input(in[0], in[1], 6, 5, 2, 1); },
                   {leaf({2, 3, 3, 3}, 133), leaf_nc({3, 2, 3, 3}, 134)});
  // Second order, as a gradient penalty on a conv layer's weight gradient needs.
  expect_gradgradcheck([](const Ins& in) { return square(conv2d_weight(in[0], in[1], 3, 3, 2, 1)); },
                       {leaf({1, 2, 4, 5}, 135), leaf({1, 2, 2, 3}, 136)});
}

TEST(GradConv, Conv2dSecondOrder) {
  // conv2d is bilinear, so the gradient of its gradient exercises the
  // backward of conv2d_input and conv2d_weight; squaring makes the output
  // gradient depend on every input too.
  const Ins in = {leaf({1, 2, 4, 5}, 141), leaf({2, 2, 3, 3}, 142), leaf({2}, 143)};
  expect_gradgradcheck([](const Ins& v) { return conv2d(v[0], v[1], v[2], 2, 1); }, in);
  expect_gradgradcheck([](const Ins& v) { return square(conv2d(v[0], v[1], v[2], 2, 1)); }, in);
}

TEST(GradConv, ConvTranspose2dSecondOrder) {
  const Ins in = {leaf({1, 2, 3, 2}, 151), leaf({2, 2, 3, 3}, 152), leaf({2}, 153)};
  expect_gradgradcheck([](const Ins& v) { return conv_transpose2d(v[0], v[1], v[2], 2, 1, 1); }, in);
  expect_gradgradcheck([](const Ins& v) { return square(conv_transpose2d(v[0], v[1], v[2], 2, 1, 1)); }, in);
}

TEST(GradConv, GradientPenaltyThroughConv) {
  // WGAN-GP: penalise |d critic / d x|^2 and differentiate that w.r.t. the
  // weights. Checked against central differences of the penalty itself.
  const Tensor x = uniform({1, 1, 5, 5}, 161);
  const Tensor w1 = leaf({2, 1, 3, 3}, 162), w2 = leaf({1, 2, 3, 3}, 163);
  auto penalty = [&](const Ins& in) {
    GradModeGuard grad_on(true);  // gradcheck evaluates f under no_grad too
    const Tensor xi = x.detach().requires_grad_();
    const Tensor critic = sum(conv2d(tanh(conv2d(xi, in[0], {}, 2, 1)), in[1], {}, 1, 1));
    const Tensor gx = autograd::grad({critic}, {xi}, {}, true, true)[0];
    return sum(square(gx));
  };
  expect_gradcheck(penalty, {w1, w2});
}

// ---- errors --------------------------------------------------------------------

TEST(ConvErrors, MessagesNameTheShapes) {
  const Tensor x = zeros({8, 3, 28, 28}), w = zeros({32, 1, 4, 4});
  EXPECT_EQ(error_of([&] { conv2d(x, w, {}, 2, 1); }),
            "conv2d: input [8,3,28,28] has 3 channels, weight [32,1,4,4] expects 1");
  EXPECT_CONTAINS(error_of([&] { conv2d(zeros({3, 28, 28}), w); }), "[3,28,28]");
  EXPECT_CONTAINS(error_of([&] { conv2d(x, zeros({32, 3, 4})); }), "[32,3,4]");
  const std::string bias = error_of([&] { conv2d(x, zeros({32, 3, 4, 4}), zeros({5})); });
  EXPECT_CONTAINS(bias, "bias [5]");
  EXPECT_CONTAINS(bias, "expected [32]");
  const std::string big = error_of([&] { conv2d(zeros({1, 3, 3, 3}), zeros({4, 3, 5, 5}), {}, 1, 0); });
  EXPECT_CONTAINS(big, "kernel 5x5");
  EXPECT_CONTAINS(big, "[1,3,3,3]");
  EXPECT_CONTAINS(error_of([&] { conv2d(x, zeros({4, 3, 3, 3}, kF64)); }), "dtype");
  EXPECT_CONTAINS(error_of([&] { conv2d(x, zeros({4, 3, 3, 3}), {}, 0); }), "stride");
  EXPECT_CONTAINS(error_of([&] { conv2d(x, zeros({4, 3, 3, 3}), {}, 1, -1); }), "padding");

  const Tensor z = zeros({8, 64, 7, 7});
  EXPECT_EQ(error_of([&] { conv_transpose2d(z, zeros({32, 64, 4, 4}), {}, 2, 1); }),
            "conv_transpose2d: input [8,64,7,7] has 64 channels, weight [32,64,4,4] expects 32");
  EXPECT_CONTAINS(error_of([&] { conv_transpose2d(z, zeros({64, 32, 4, 4}), {}, 2, 1, 2); }), "output_padding 2");
  EXPECT_CONTAINS(error_of([&] { conv_transpose2d(z, zeros({64, 32, 4, 4}), zeros({64}), 2, 1); }), "bias [64]");
  EXPECT_CONTAINS(error_of([&] { conv_transpose2d(zeros({1, 2, 1, 1}), zeros({2, 2, 1, 1}), {}, 1, 1); }),
                  "empty output");

  const std::string wg = error_of([&] { conv2d_weight(x, zeros({8, 4, 13, 14}), 4, 4, 2, 1); });
  EXPECT_CONTAINS(wg, "[8,4,13,14]");
  EXPECT_CONTAINS(wg, "[8,3,28,28]");
  EXPECT_CONTAINS(error_of([&] { conv2d_weight(x, zeros({7, 4, 14, 14}), 4, 4, 2, 1); }), "batch");
  EXPECT_CONTAINS(error_of([&] { conv2d_input(zeros({8, 4, 14, 14}), zeros({4, 3, 4, 4}), 30, 28, 2, 1); }),
                  "30x28");
}

// ---- conv2d_activation: a convolution and its rectifier as one op -----------------------

namespace {

// Every bit of a against b (the same dtype; compared through float64, exact).
void expect_same_bits(const Tensor& a, const Tensor& b, const std::string& what) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  const std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  int64_t bad = 0;
  for (size_t i = 0; i < x.size(); ++i)
    if (std::memcmp(&x[i], &y[i], sizeof(double)) != 0 && ++bad <= 3)
      ADD_FAILURE() << what << " element " << i << ": " << x[i] << " vs " << y[i];
  EXPECT_EQ(bad, 0) << what;
}

Tensor rectify(const Tensor& y, ConvActivation act, double slope) {
  return act == ConvActivation::relu ? relu(y) : leaky_relu(y, slope);
}

}  // namespace

// The fused op replaces relu(conv2d(...)) and leaky_relu(conv2d(...)) on the
// VAE's and the GAN's path, so it must have their bits: the output and all
// three gradients, in both dtypes, with and without a bias, for the models'
// stride-2 layers and an odd-sized stride-1 one. Inputs are centred so that
// about half the pre-activations are negative.
TEST(ConvActivation, BitIdenticalToTheComposite) {
  struct Case {
    int64_t n, cin, h, cout, k, stride, pad;
    bool bias;
  };
  for (const Case& c : {Case{2, 1, 28, 5, 4, 2, 1, true}, Case{3, 4, 7, 6, 3, 1, 1, false}, Case{2, 3, 9, 4, 4, 2, 1, true}})
    for (DType dt : {DType::f32, DType::f64})
      for (const auto& [act, slope] : {std::pair{ConvActivation::relu, 0.0}, std::pair{ConvActivation::leaky_relu, 0.2}}) {
        SCOPED_TRACE(std::string(dtype_name(dt)) + (act == ConvActivation::relu ? " relu" : " leaky_relu"));
        const Tensor x0 = uniform({c.n, c.cin, c.h, c.h}, 61, -1, 1, dt), w0 = uniform({c.cout, c.cin, c.k, c.k}, 62, -1, 1, dt);
        const Tensor b0 = c.bias ? uniform({c.cout}, 63, -0.5, 0.5, dt) : Tensor();
        auto leaves = [&] {
          return std::vector<Tensor>{x0.clone().requires_grad_(), w0.clone().requires_grad_(),
                                     c.bias ? b0.clone().requires_grad_() : Tensor()};
        };
        const std::vector<Tensor> f = leaves(), r = leaves();
        const Tensor fused = conv2d_activation(f[0], f[1], f[2], c.stride, c.pad, act, slope);
        const Tensor composite = rectify(conv2d(r[0], r[1], r[2], c.stride, c.pad), act, slope);
        expect_same_bits(fused, composite, "y");
        const Tensor g = uniform(fused.shape(), 64, -1, 1, dt);
        sum(fused * g).backward();
        sum(composite * g).backward();
        expect_same_bits(f[0].grad(), r[0].grad(), "dx");
        expect_same_bits(f[1].grad(), r[1].grad(), "dw");
        if (c.bias) expect_same_bits(f[2].grad(), r[2].grad(), "db");
      }
}

TEST(ConvActivation, GradcheckAndSecondOrder) {
  for (const auto& [act, slope] : {std::pair{ConvActivation::relu, 0.0}, std::pair{ConvActivation::leaky_relu, 0.3}}) {
    auto f = [act = act, slope = slope](const Ins& in) { return conv2d_activation(in[0], in[1], in[2], 2, 1, act, slope); };
    expect_gradcheck(f, {leaf({2, 2, 6, 6}, 71), leaf({3, 2, 4, 4}, 72), leaf({3}, 73)});
    expect_gradcheck(f, {leaf_nc({2, 2, 6, 6}, 74), leaf({3, 2, 4, 4}, 75), leaf({3}, 76)});
    expect_gradgradcheck(f, {leaf({1, 2, 5, 5}, 77), leaf({2, 2, 3, 3}, 78), leaf({2}, 79)});
  }
}

TEST(ConvActivation, ErrorsSayWhatIsWrong) {
  const Tensor x = zeros({1, 2, 5, 5}), w = zeros({3, 2, 3, 3});
  expect_error([&] { conv2d_activation(x, w, {}, 1, 1, ConvActivation::leaky_relu, -0.1); },
               {"conv2d_activation", "slope > 0", "-0.1"});
  expect_error([&] { conv2d_activation(x, w, {}, 1, 1, ConvActivation::leaky_relu, 0.0); }, {"slope > 0"});
  expect_error([&] { conv2d_activation(x, zeros({3, 4, 3, 3}), {}, 1, 1, ConvActivation::relu); },
               {"conv2d_activation", "2 channels", "expects 4"});
  expect_error([&] { conv2d_activation(x, w, zeros({2}), 1, 1, ConvActivation::relu); }, {"conv2d_activation", "bias"});
}

// nn::Sequential runs a Conv2d followed by ReLU or LeakyReLU as the fused op
// (its backward node says so), and a non-fusable pair (a zero slope, a
// grouped conv, a rectifier not after a conv) as the two modules; the
// output's bits are the same either way.
TEST(ConvActivation, SequentialFusesAConvAndTheRectifierAfterIt) {
  Generator gen(81);
  auto conv = std::make_shared<nn::Conv2d>(2, 4, 3, 1, 1, true, gen);
  const Tensor x = uniform({2, 2, 6, 6}, 82, -1, 1, DType::f32);
  const Tensor plain = relu(conv->forward(x));
  {
    nn::Sequential s{conv, nn::ReLU()};
    const Tensor y = s.forward(x);
    expect_same_bits(y, plain, "ReLU");
    ASSERT_TRUE(y.grad_fn());
    EXPECT_EQ(y.grad_fn()->name, "Conv2dReluBackward");
  }
  {
    nn::Sequential s{conv, nn::LeakyReLU(0.2)};
    const Tensor y = s.forward(x);
    expect_same_bits(y, leaky_relu(conv->forward(x), 0.2), "LeakyReLU");
    EXPECT_EQ(y.grad_fn()->name, "Conv2dLeakyReluBackward");
  }
  {
    nn::Sequential s{conv, nn::LeakyReLU(0.0)};  // not fusable: the output's sign says nothing
    EXPECT_EQ(s.forward(x).grad_fn()->name, "LeakyReluBackward");
  }
  {
    nn::Sequential s{nn::ReLU(), conv};  // the rectifier comes first: nothing to fuse
    EXPECT_EQ(s.forward(x).grad_fn()->name, "Conv2dBackward");
  }
  {
    Conv2dOptions o;
    o.groups = 2;
    auto grouped = std::make_shared<nn::Conv2d>(2, 4, Size2(3), o, true, gen);
    nn::Sequential s{grouped, nn::ReLU()};
    const Tensor y = s.forward(x);
    EXPECT_EQ(y.grad_fn()->name, "ReluBackward");
    expect_same_bits(y, relu(grouped->forward(x)), "grouped");
  }
}
