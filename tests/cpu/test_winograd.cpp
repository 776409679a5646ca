// The CPU's 3x3 stride-1 padding-1 convolutions (Winograd's F(2x2, 3x3),
// engine/cpu/winograd.h) against a direct convolution summed in long double:
// the forward and the input gradient on awkward shapes (odd and tiny images,
// batch 1, channel counts that are not a multiple of anything), float32 and
// float64, with and without bias; the weight gradient's path is unchanged.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "engine/nanogen.h"
#include "support/gradcheck.h"

using namespace ng;

namespace {

// y[n,k,i,j] = sum_{c,a,b} w[k,c,a,b] x[n,c,i+a-1,j+b-1] (+ bias[k]), and the
// sum of the magnitudes of the terms, which bounds the rounding error.
struct Direct {
  std::vector<long double> y, magnitude;
};

Direct direct_conv(const std::vector<double>& x, const std::vector<double>& w, const std::vector<double>* bias,
                   int64_t N, int64_t C, int64_t K, int64_t H, int64_t W) {
  Direct d{std::vector<long double>(size_t(N * K * H * W)), std::vector<long double>(size_t(N * K * H * W))};
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t i = 0; i < H; ++i)
        for (int64_t j = 0; j < W; ++j) {
          long double s = bias ? (*bias)[size_t(k)] : 0, m = bias ? std::fabs((*bias)[size_t(k)]) : 0;
          for (int64_t c = 0; c < C; ++c)
            for (int64_t a = 0; a < 3; ++a)
              for (int64_t b = 0; b < 3; ++b) {
                const int64_t r = i + a - 1, q = j + b - 1;
                if (r < 0 || r >= H || q < 0 || q >= W) continue;
                const long double t = (long double)w[size_t(((k * C + c) * 3 + a) * 3 + b)] *
                                      x[size_t(((n * C + c) * H + r) * W + q)];
                s += t;
                m += std::fabs(t);
              }
          d.y[size_t(((n * K + k) * H + i) * W + j)] = s;
          d.magnitude[size_t(((n * K + k) * H + i) * W + j)] = m;
        }
  return d;
}

// |got - exact| <= terms * eps * (sum of |terms|), elementwise.
void expect_near_direct(const Tensor& got, const Direct& d, double eps, const char* what) {
  const std::vector<double> g = got.to(DType::f64).to_vector<double>();
  ASSERT_EQ(g.size(), d.y.size()) << what;
  int64_t bad = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    const long double bound = 16 * eps * d.magnitude[i] + 1e-300L;
    if (!(std::fabs(g[i] - d.y[i]) <= bound) && bad++ < 3)
      ADD_FAILURE() << what << " element " << i << ": " << g[i] << " vs " << double(d.y[i]) << " (bound "
                    << double(bound) << ")";
  }
  EXPECT_EQ(bad, 0) << what;
}

struct Shape5 {
  int64_t N, C, K, H, W;
};

}  // namespace

TEST(Winograd, ForwardAndInputGradientMatchADirectConvolution) {
  const std::vector<Shape5> shapes = {{1, 1, 1, 1, 1}, {1, 3, 2, 2, 3}, {2, 5, 7, 5, 7},
                                      {3, 2, 4, 8, 8}, {1, 4, 3, 13, 9}, {2, 16, 9, 6, 11}};
  for (DType dt : {DType::f32, DType::f64}) {
    const double eps = dt == DType::f32 ? 0x1p-24 : 0x1p-53;
    for (const Shape5& s : shapes) {
      for (bool with_bias : {false, true}) {
        SCOPED_TRACE(::testing::Message() << dtype_name(dt) << " N" << s.N << " C" << s.C << " K" << s.K << " "
                                          << s.H << "x" << s.W << (with_bias ? " bias" : ""));
        const Tensor x = test::uniform({s.N, s.C, s.H, s.W}, 1, -1, 1, dt).requires_grad_();
        const Tensor w = test::uniform({s.K, s.C, 3, 3}, 2, -1, 1, dt).requires_grad_();
        const Tensor b = with_bias ? test::uniform({s.K}, 3, -1, 1, dt) : Tensor();
        const Tensor gy = test::uniform({s.N, s.K, s.H, s.W}, 4, -1, 1, dt);
        const std::vector<double> xs = x.to(DType::f64).to_vector<double>(), ws = w.to(DType::f64).to_vector<double>();
        const std::vector<double> bs = with_bias ? b.to(DType::f64).to_vector<double>() : std::vector<double>{};
        const Tensor y = conv2d(x, w, b, 1, 1);
        expect_near_direct(y, direct_conv(xs, ws, with_bias ? &bs : nullptr, s.N, s.C, s.K, s.H, s.W), eps, "forward");

        // The input gradient is the convolution of gy by the filters turned
        // 180 degrees with the channel roles swapped.
        const Tensor gx = autograd::grad({sum(y * gy)}, {x})[0];
        std::vector<double> turned(ws.size());
        for (int64_t k = 0; k < s.K; ++k)
          for (int64_t c = 0; c < s.C; ++c)
            for (int i = 0; i < 9; ++i) turned[size_t((c * s.K + k) * 9 + i)] = ws[size_t((k * s.C + c) * 9 + 8 - i)];
        expect_near_direct(gx, direct_conv(gy.to(DType::f64).to_vector<double>(), turned, nullptr, s.N, s.K, s.C, s.H, s.W),
                           eps, "input gradient");
      }
    }
  }
}

// The float64 gradient checks of engine/ops/conv.cpp go through the same
// path; one here on its own shape, with a graph of the backward too.
TEST(Winograd, Gradcheck) {
  auto f = [](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], in[2], 1, 1); };
  test::expect_gradcheck(f, {test::leaf({2, 3, 5, 4}, 10), test::leaf({2, 3, 3, 3}, 11), test::leaf({2}, 12)});
  test::expect_gradgradcheck(f, {test::leaf({1, 2, 3, 3}, 13), test::leaf({2, 2, 3, 3}, 14), test::leaf({2}, 15)});
}
