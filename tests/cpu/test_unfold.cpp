// unfold, fold and the general conv2d (groups, dilation, per-axis stride and
// padding): by hand, against a direct six-loop convolution in float64, fold
// as unfold's adjoint, the square settings taking the fast kernels bit for
// bit, and float64 gradient checks to second order. PyTorch parity is in
// test_ops_parity.cpp.
#include <gtest/gtest.h>

#include <vector>

#include "engine/nanogen.h"
#include "engine/nn/layers.h"
#include "support/gradcheck.h"

using namespace ng;
using Ins = std::vector<Tensor>;
using V = std::vector<float>;

namespace {

// The convolution written as its definition, in float64.
Tensor direct_conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dOptions& o) {
  const int64_t n = x.size(0), cin = x.size(1), h = x.size(2), wd = x.size(3);
  const int64_t cout = w.size(0), cg = w.size(1), kh = w.size(2), kw = w.size(3), per_group = cout / o.groups;
  const int64_t oh_n = (h + 2 * o.padding.h - o.dilation.h * (kh - 1) - 1) / o.stride.h + 1;
  const int64_t ow_n = (wd + 2 * o.padding.w - o.dilation.w * (kw - 1) - 1) / o.stride.w + 1;
  const std::vector<double> xv = x.to_vector<double>(), wv = w.to_vector<double>();
  const std::vector<double> bv = b.defined() ? b.to_vector<double>() : std::vector<double>(size_t(cout), 0.0);
  std::vector<double> y(size_t(n * cout * oh_n * ow_n));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t co = 0; co < cout; ++co)
      for (int64_t oh = 0; oh < oh_n; ++oh)
        for (int64_t ow = 0; ow < ow_n; ++ow) {
          double acc = bv[size_t(co)];
          for (int64_t c = 0; c < cg; ++c)
            for (int64_t r = 0; r < kh; ++r)
              for (int64_t q = 0; q < kw; ++q) {
                const int64_t ih = oh * o.stride.h - o.padding.h + r * o.dilation.h;
                const int64_t iw = ow * o.stride.w - o.padding.w + q * o.dilation.w;
                if (ih < 0 || ih >= h || iw < 0 || iw >= wd) continue;
                const int64_t ci = co / per_group * cg + c;
                acc += xv[size_t(((i * cin + ci) * h + ih) * wd + iw)] * wv[size_t(((co * cg + c) * kh + r) * kw + q)];
              }
          y[size_t(((i * cout + co) * oh_n + oh) * ow_n + ow)] = acc;
        }
  return from_vector(y, {n, cout, oh_n, ow_n});
}

struct ConvCase {
  Shape x, w;
  Conv2dOptions o;
};

const std::vector<ConvCase>& conv_cases() {
  static const std::vector<ConvCase> cases = {
      {{2, 4, 7, 6}, {6, 2, 3, 3}, {.stride = 1, .padding = 1, .groups = 2}},
      {{1, 3, 9, 8}, {3, 1, 3, 3}, {.stride = {2, 1}, .padding = {1, 2}, .dilation = 1, .groups = 3}},  // depthwise
      {{2, 2, 9, 10}, {4, 2, 3, 2}, {.stride = 1, .padding = 2, .dilation = 2}},
      {{1, 2, 11, 7}, {3, 2, 2, 3}, {.stride = {3, 2}, .padding = {0, 1}, .dilation = {2, 1}}},
      {{2, 6, 5, 5}, {9, 2, 1, 1}, {.groups = 3}},
  };
  return cases;
}

}  // namespace

TEST(Unfold, ColumnsHoldTheWindowsByHand) {
  // A 3x3 image, 2x2 windows: 4 windows, each a column of its 4 pixels.
  const Tensor x = from_vector(V{1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3});
  EXPECT_EQ(unfold(x, 2).to_vector<float>(), (V{1, 2, 4, 5, /**/ 2, 3, 5, 6, /**/ 4, 5, 7, 8, /**/ 5, 6, 8, 9}));
  // Dilation 2 takes the corners; padding 1 with stride 2 on a 1x3 kernel.
  EXPECT_EQ(unfold(x, 2, 2).to_vector<float>(), (V{1, 3, 7, 9}));
  EXPECT_EQ(unfold(x, {1, 3}, 1, {0, 1}, {2, 2}).to_vector<float>(), (V{0, 2, 0, 8, 1, 3, 7, 9, 2, 0, 8, 0}));
  // fold adds overlapping windows back: every pixel times the windows covering it.
  EXPECT_EQ(fold(unfold(x, 2), 3, 2).to_vector<float>(), (V{1, 4, 3, 8, 20, 12, 7, 16, 9}));
  test::expect_error([&] { unfold(x, 4); }, {"unfold", "4x4", "3x3"});
  test::expect_error([&] { unfold(x, 2, 0); }, {"unfold", "dilation"});
  test::expect_error([&] { fold(zeros({1, 4, 3}), 3, 2); }, {"fold", "3 columns", "4 windows"});
  test::expect_error([&] { fold(zeros({1, 5, 4}), 3, 2); }, {"fold", "multiple of the kernel's 4 taps"});
}

TEST(Unfold, FoldIsTheAdjointOfUnfold) {
  // <unfold(x), c> == <x, fold(c)> for every geometry.
  for (const ConvCase& c : conv_cases()) {
    const Size2 k{c.w[2], c.w[3]};
    const Tensor x = test::uniform(c.x, 7);
    const Tensor cols = unfold(x, k, c.o.dilation, c.o.padding, c.o.stride);
    const Tensor r = test::uniform(cols.shape(), 8);
    const double lhs = sum(cols * r).item();
    const double rhs = sum(x * fold(r, {c.x[2], c.x[3]}, k, c.o.dilation, c.o.padding, c.o.stride)).item();
    EXPECT_NEAR(lhs, rhs, 1e-12 * std::fabs(lhs) + 1e-12);
  }
}

TEST(Unfold, GeneralConvolutionMatchesTheDefinition) {
  uint64_t seed = 20;
  for (const ConvCase& c : conv_cases()) {
    SCOPED_TRACE(shape_str(c.x) + " weight " + shape_str(c.w) + " groups " + std::to_string(c.o.groups));
    const Tensor x = test::uniform(c.x, ++seed), w = test::uniform(c.w, ++seed), b = test::uniform({c.w[0]}, ++seed);
    test::expect_close(conv2d(x, w, b, c.o), direct_conv2d(x, w, b, c.o), 1e-13);
    test::expect_close(conv2d(x, w, {}, c.o), direct_conv2d(x, w, {}, c.o), 1e-13);
  }
}

TEST(Unfold, SquareSettingsTakeTheFastKernelsBitForBit) {
  const Tensor x = test::uniform({2, 3, 8, 8}, 30, -1, 1, DType::f32), w = test::uniform({4, 3, 3, 3}, 31, -1, 1, DType::f32);
  const Tensor b = test::uniform({4}, 32, -1, 1, DType::f32);
  EXPECT_EQ(conv2d(x, w, b, {.stride = 2, .padding = 1}).to_vector<float>(), conv2d(x, w, b, 2, 1).to_vector<float>());
  // A module with groups has the grouped weight and the grouped fan-in.
  Generator gen(5);
  nn::Conv2d depthwise(6, 12, {3, 1}, {.padding = {1, 0}, .groups = 6}, true, gen);
  EXPECT_EQ(depthwise.weight.shape(), (Shape{12, 1, 3, 1}));
  // Uniform in +-1/sqrt(fan_in) with fan_in = (6 / 6) * 3 * 1: 12 * 3 draws
  // reach past the bound an ungrouped fan-in (18) would give.
  EXPECT_LE(max(abs(depthwise.weight)).item(), 1.0 / std::sqrt(3.0));
  EXPECT_GT(max(abs(depthwise.weight)).item(), 1.0 / std::sqrt(18.0));
  EXPECT_EQ(depthwise.forward(zeros({1, 6, 5, 5})).shape(), (Shape{1, 12, 5, 5}));
  test::expect_error([&] { nn::Conv2d(6, 4, 3, {.groups = 4}); }, {"Conv2d", "6 input", "4 groups"});
  test::expect_error([&] { conv2d(zeros({1, 4, 5, 5}), zeros({2, 3, 3, 3}), {}, {.groups = 2}); },
                     {"conv2d", "4 channels", "expects 6"});
  test::expect_error([&] { conv2d(zeros({1, 4, 5, 5}), zeros({3, 2, 3, 3}), {}, {.groups = 2}); },
                     {"conv2d", "3 output channels", "2 groups"});
  test::expect_error([&] { conv2d(zeros({1, 2, 5, 5}), zeros({2, 2, 3, 3}), {}, {.dilation = 3}); },
                     {"conv2d", "spans 7x7", "[1,2,5,5]"});
  test::expect_error([&] { conv2d(zeros({1, 2, 5, 5}), zeros({2, 2, 3, 3}), {}, {.stride = {1, 0}}); },
                     {"conv2d", "stride 1x0"});
}

TEST(Unfold, GradientsCheckAgainstCentralDifferences) {
  for (const ConvCase& c : conv_cases()) {
    SCOPED_TRACE(shape_str(c.x) + " weight " + shape_str(c.w));
    const Conv2dOptions o = c.o;
    const test::TensorFn conv = [o](const Ins& in) { return conv2d(in[0], in[1], in[2], o); };
    const Shape small_x = {1, c.x[1], c.x[2], c.x[3]};
    test::expect_gradcheck(conv, {test::leaf(small_x, 61), test::leaf(c.w, 62), test::leaf({c.w[0]}, 63)});
    test::expect_gradgradcheck(conv, {test::leaf(small_x, 64), test::leaf(c.w, 65), test::leaf({c.w[0]}, 66)});
    const Size2 k{c.w[2], c.w[3]};
    const test::TensorFn unf = [o, k](const Ins& in) { return square(unfold(in[0], k, o.dilation, o.padding, o.stride)); };
    test::expect_gradcheck(unf, {test::leaf_nc(small_x, 67)});
  }
}
