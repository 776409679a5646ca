// avg_pool2d, max_pool2d and upsample_nearest2d: values worked out by hand, float64
// gradient checks (first and second order), and the argument errors.
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "engine/nanogen.h"
#include "support/gradcheck.h"

using namespace ng;
using test::error_of;
using test::expect_gradcheck;
using test::expect_gradgradcheck;
using test::non_contiguous;
using test::expect_close;
using test::expect_error;
using test::leaf;
using test::leaf_nc;
using test::uniform;
using Ins = std::vector<Tensor>;
using V = std::vector<double>;

namespace {

const TensorOptions kF64 = TensorOptions{}.with_dtype(DType::f64);


// 0, 1, ..., 15 as a [1,1,4,4] image.
Tensor ramp4x4(DType dtype = DType::f64) { return arange(16, TensorOptions{}.with_dtype(dtype)).reshape({1, 1, 4, 4}); }

#define EXPECT_CONTAINS(text, piece) EXPECT_NE((text).find(piece), std::string::npos) << (text)

}  // namespace

// ---- values by hand ----------------------------------------------------------

TEST(AvgPool2d, TwoByTwoBlocks) {
  const Tensor y = avg_pool2d(ramp4x4(), 2);  // stride 0 means stride = kernel
  ASSERT_EQ(y.shape(), (Shape{1, 1, 2, 2}));
  EXPECT_EQ(y.to_vector<double>(), (V{2.5, 4.5, 10.5, 12.5}));  // (0+1+4+5)/4, ...
  const Tensor y32 = avg_pool2d(ramp4x4(DType::f32), 2, 2);
  EXPECT_EQ(y32.to_vector<float>(), (std::vector<float>{2.5f, 4.5f, 10.5f, 12.5f}));
}

TEST(AvgPool2d, PaddingCountsAsZeros) {
  // Windows start at -1, 1, 3: rows {0}, {1,2}, {3} and the same columns; the
  // divisor is always 4.
  const Tensor y = avg_pool2d(ramp4x4(), 2, 2, 1);
  ASSERT_EQ(y.shape(), (Shape{1, 1, 3, 3}));
  EXPECT_EQ(y.to_vector<double>(), (V{0.0, 0.75, 0.75, 3.0, 7.5, 4.5, 3.0, 6.75, 3.75}));
}

TEST(AvgPool2d, OddSizesDropTheRemainder) {
  const Tensor x = arange(25, kF64).reshape({1, 1, 5, 5});
  const Tensor y = avg_pool2d(x, 2);
  ASSERT_EQ(y.shape(), (Shape{1, 1, 2, 2}));
  EXPECT_EQ(y.to_vector<double>(), (V{3.0, 5.0, 13.0, 15.0}));
  // Overlapping 3x3 windows with stride 2 over a non-contiguous batch.
  const Tensor z = avg_pool2d(non_contiguous(x.expand({2, 3, 5, 5}).contiguous()), 3, 2);
  ASSERT_EQ(z.shape(), (Shape{2, 3, 2, 2}));
  EXPECT_EQ(z.slice(0, 1, 2).slice(1, 2, 3).reshape({4}).to_vector<double>(), (V{6.0, 8.0, 16.0, 18.0}));
}

TEST(AvgPool2d, GradientCountsTheCoveringWindows) {
  // 2x2 windows with stride 1 over 3x3: a corner is in one window, an edge
  // in two, the centre in four; each window passes on 1/4.
  const Tensor x = zeros({1, 1, 3, 3}, kF64.with_requires_grad());
  sum(avg_pool2d(x, 2, 1)).backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (V{0.25, 0.5, 0.25, 0.5, 1.0, 0.5, 0.25, 0.5, 0.25}));
}

TEST(MaxPool2d, TakesEachWindowsMaximum) {
  const Tensor y = max_pool2d(ramp4x4(), 2);
  EXPECT_EQ(y.to_vector<double>(), (V{5, 7, 13, 15}));
  // Padding is -infinity: a window over it and a corner holds the corner's maximum.
  EXPECT_EQ(max_pool2d(ramp4x4() * -1.0, 2, 2, 1).to_vector<double>(), (V{0, -1, -3, -4, -5, -7, -12, -13, -15}));
  EXPECT_EQ(max_pool2d(ramp4x4(DType::f32), 3, 1).to_vector<float>(), (std::vector<float>{10, 11, 14, 15}));
}

TEST(MaxPool2d, TheGradientGoesToTheFirstMaximumOfEachWindow) {
  // Ties: the first in row-major order takes the whole gradient (PyTorch's rule).
  const Tensor x = from_vector(V{1, 3, 3, 0,  //
                                 3, 2, 1, 3,  //
                                 0, 0, 0, 0,  //
                                 0, 0, 0, 0},
                               {1, 1, 4, 4})
                       .requires_grad_();
  max_pool2d(x, 2).backward(from_vector(V{10, 20, 30, 40}, {1, 1, 2, 2}));
  // The two all-zero windows of the bottom row answer their first elements.
  EXPECT_EQ(x.grad().to_vector<double>(), (V{0, 10, 20, 0, 0, 0, 0, 0, 30, 0, 40, 0, 0, 0, 0, 0}));
  // Overlapping windows add up at an element that is the maximum of several.
  const Tensor peak = from_vector(V{0, 0, 0, 0, 9, 0, 0, 0, 0}, {1, 1, 3, 3}).requires_grad_();
  sum(max_pool2d(peak, 2, 1)).backward();
  EXPECT_EQ(peak.grad().to_vector<double>(), (V{0, 0, 0, 0, 4, 0, 0, 0, 0}));
}

TEST(MaxPool2d, NaNAndMinusInfinity) {
  const double nan = std::nan(""), inf = INFINITY;
  const Tensor x = from_vector(V{1, nan, 5, 2, -inf, -inf, -inf, -inf}, {1, 1, 2, 4}).requires_grad_();
  const Tensor y = max_pool2d(x, 2);
  const V values = y.to_vector<double>();
  EXPECT_TRUE(std::isnan(values[0]));  // a NaN is the window's maximum
  EXPECT_EQ(values[1], 5.0);
  sum(y * from_vector(V{1, 1}, {1, 1, 1, 2})).backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (V{0, 1, 1, 0, 0, 0, 0, 0}));
  // A window of -inf answers its first element.
  const Tensor all_inf = full({1, 1, 2, 2}, -inf, kF64).requires_grad_();
  sum(max_pool2d(all_inf, 2)).backward();
  EXPECT_EQ(all_inf.grad().to_vector<double>(), (V{1, 0, 0, 0}));
}

TEST(UpsampleBilinear2d, InterpolatesBetweenPixelCentres) {
  // [0, 1] to 4 columns: source coordinates -0.25 (clamped to 0), 0.25, 0.75, 1.25 (past the last centre).
  const Tensor row = from_vector(V{0, 1}, {1, 1, 1, 2});
  EXPECT_EQ(upsample_bilinear2d(row, 1, 4).to_vector<double>(), (V{0, 0.25, 0.75, 1}));
  // With aligned corners the end pixels land on the ends.
  EXPECT_EQ(upsample_bilinear2d(row, 1, 3, true).to_vector<double>(), (V{0, 0.5, 1}));
  // The same size is the identity; a constant stays constant.
  expect_close(upsample_bilinear2d(ramp4x4(), 4, 4), ramp4x4(), 1e-15);
  expect_close(upsample_bilinear2d(full({2, 3, 5, 4}, 0.7, kF64), 9, 2), full({2, 3, 9, 2}, 0.7, kF64), 1e-15);
  EXPECT_CONTAINS(error_of([] { upsample_bilinear2d(zeros({1, 1, 2, 2}), 0, 3); }), "output size 0x3");
  EXPECT_CONTAINS(error_of([] { upsample_bilinear2d(zeros({1, 2, 2}), 3, 3); }), "[1,2,2]");
}

TEST(UpsampleNearest2d, RepeatsEachPixel) {
  const Tensor x = from_vector(V{1, 2, 3, 4}, {1, 1, 2, 2});
  const Tensor y = upsample_nearest2d(x, 2);
  ASSERT_EQ(y.shape(), (Shape{1, 1, 4, 4}));
  EXPECT_EQ(y.to_vector<double>(), (V{1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4}));
  const Tensor y3 = upsample_nearest2d(non_contiguous(x.to(DType::f32)), 3);
  ASSERT_EQ(y3.shape(), (Shape{1, 1, 6, 6}));
  const std::vector<float> v3 = y3.to_vector<float>();  // x stored transposed: the values are not
  EXPECT_EQ(v3[0 * 6 + 2], 1.0f);
  EXPECT_EQ(v3[0 * 6 + 3], 2.0f);
  EXPECT_EQ(v3[3 * 6 + 2], 3.0f);
  EXPECT_EQ(v3[5 * 6 + 5], 4.0f);
  EXPECT_EQ(upsample_nearest2d(x, 1).to_vector<double>(), x.to_vector<double>());
}

TEST(UpsampleNearest2d, GradientSumsEachBlock) {
  const Tensor x = zeros({1, 1, 2, 2}, kF64.with_requires_grad());
  const Tensor r = arange(16, kF64).reshape({1, 1, 4, 4});
  sum(upsample_nearest2d(x, 2) * r).backward();
  // Top-left block: 0+1+4+5; top-right: 2+3+6+7; ...
  EXPECT_EQ(x.grad().to_vector<double>(), (V{10, 18, 42, 50}));
}

// ---- gradients -----------------------------------------------------------------

TEST(GradPool, AvgPool2d) {
  expect_gradcheck([](const Ins& in) { return avg_pool2d(in[0], 3, 2, 1); }, {leaf({2, 3, 7, 6}, 1)});
  expect_gradcheck([](const Ins& in) { return avg_pool2d(in[0], 2); }, {leaf_nc({2, 2, 5, 4}, 2)});
  expect_gradcheck([](const Ins& in) { return avg_pool2d(in[0], 4, 3, 2); }, {leaf({1, 2, 6, 7}, 3)});
}

TEST(GradPool, MaxPool2d) {
  // Distinct values (no ties within a central difference's reach).
  const auto distinct = [](const Shape& shape, uint64_t seed) {
    return (arange(double(shape[0] * shape[1] * shape[2] * shape[3]), kF64).reshape(shape) * 0.37 +
            uniform(shape, seed, 0, 0.01))
        .detach()
        .requires_grad_();
  };
  expect_gradcheck([](const Ins& in) { return max_pool2d(in[0], 3, 2, 1); }, {distinct({2, 3, 7, 6}, 1)});
  expect_gradcheck([](const Ins& in) { return max_pool2d(in[0], 2); }, {distinct({2, 2, 5, 4}, 2)});
  expect_gradgradcheck([](const Ins& in) { return square(max_pool2d(in[0], 3, 1, 1)); }, {distinct({1, 2, 5, 4}, 3)});
  expect_gradcheck([](const Ins& in) { return max_pool2d(in[0].transpose(2, 3), 2, 1); }, {distinct({1, 2, 4, 5}, 4)});
}

TEST(GradPool, UpsampleBilinear2d) {
  expect_gradcheck([](const Ins& in) { return upsample_bilinear2d(in[0], 7, 5); }, {leaf({2, 2, 3, 4}, 31)});
  expect_gradcheck([](const Ins& in) { return upsample_bilinear2d(in[0], 2, 3, true); }, {leaf_nc({1, 2, 5, 4}, 32)});
  expect_gradgradcheck([](const Ins& in) { return square(upsample_bilinear2d(in[0], 5, 6)); }, {leaf({1, 2, 3, 3}, 33)});
}

TEST(GradPool, UpsampleNearest2d) {
  expect_gradcheck([](const Ins& in) { return upsample_nearest2d(in[0], 2); }, {leaf({2, 3, 3, 2}, 11)});
  expect_gradcheck([](const Ins& in) { return upsample_nearest2d(in[0], 3); }, {leaf_nc({1, 2, 3, 4}, 12)});
}

TEST(GradPool, SecondOrder) {
  // Squaring the (linear) op makes its output gradient depend on the input,
  // so the backward's own backward is exercised.
  expect_gradgradcheck([](const Ins& in) { return square(avg_pool2d(in[0], 3, 2, 1)); }, {leaf({1, 2, 5, 4}, 21)});
  expect_gradgradcheck([](const Ins& in) { return square(upsample_nearest2d(in[0], 2)); }, {leaf({1, 2, 3, 2}, 22)});
  expect_gradgradcheck([](const Ins& in) { return avg_pool2d(upsample_nearest2d(in[0], 2), 3, 1, 1) * sum(in[0]); },
                       {leaf({1, 1, 2, 3}, 23)});
}

// ---- errors --------------------------------------------------------------------

TEST(PoolErrors, MessagesNameTheProblem) {
  const Tensor x = zeros({2, 3, 5, 5});
  EXPECT_CONTAINS(error_of([&] { avg_pool2d(zeros({3, 5, 5}), 2); }), "[3,5,5]");
  EXPECT_CONTAINS(error_of([&] { avg_pool2d(x, 0); }), "kernel");
  EXPECT_CONTAINS(error_of([&] { avg_pool2d(x, 2, -1); }), "stride");
  EXPECT_CONTAINS(error_of([&] { avg_pool2d(x, 3, 1, 2); }), "padding 2");
  const std::string big = error_of([&] { avg_pool2d(x, 6); });
  EXPECT_CONTAINS(big, "kernel 6x6");
  EXPECT_CONTAINS(big, "[2,3,5,5]");
  EXPECT_CONTAINS(error_of([&] { max_pool2d(zeros({3, 5, 5}), 2); }), "[3,5,5]");
  EXPECT_CONTAINS(error_of([&] { max_pool2d(x, 3, 1, 2); }), "padding 2");
  EXPECT_CONTAINS(error_of([&] { max_pool2d(x, 6); }), "kernel 6x6");
  EXPECT_CONTAINS(error_of([&] { upsample_nearest2d(zeros({3, 5, 5}), 2); }), "[3,5,5]");
  EXPECT_CONTAINS(error_of([&] { upsample_nearest2d(x, 0); }), "scale");
}
