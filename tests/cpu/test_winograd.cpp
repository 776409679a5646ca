// The CPU's 3x3 stride-1 padding-1 convolutions (Winograd's F(2x2, 3x3),
// engine/cpu/winograd.h) against a direct convolution summed in long double:
// the forward, the input gradient and the weight gradient on awkward shapes
// (odd and tiny images, batch 1, channel counts that are not a multiple of
// anything), float32 and float64, with and without bias, through the ops and
// with the work cut small enough to cross every block and chunk boundary.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "engine/cpu/winograd.h"
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

// The 180-degree turned filters with the channel roles swapped: the input
// gradient is the convolution of dy by them.
std::vector<double> turned_filters(const std::vector<double>& w, int64_t K, int64_t C) {
  std::vector<double> turned(w.size());
  for (int64_t k = 0; k < K; ++k)
    for (int64_t c = 0; c < C; ++c)
      for (int i = 0; i < 9; ++i) turned[size_t((c * K + k) * 9 + i)] = w[size_t((k * C + c) * 9 + 8 - i)];
  return turned;
}

// dw[k,c,a,b] = sum_{n,i,j} dy[n,k,i,j] x[n,c,i+a-1,j+b-1], exactly (long
// double), and the bound on the rounding error of the Winograd sum for it:
//   (tiles + 16) * eps * sum_tiles sum_xi |G^T|_a |G^T|_b |dM_xi| |V_xi|,
// |V| = |B^T| |d| |B| and |dM| = |A| |dY| |A^T| from the magnitudes of the
// tile's inputs: the products sum over N * tiles terms, the transforms add
// a few roundings more.
struct WeightGradient {
  std::vector<long double> dw, bound;
};

WeightGradient direct_weight_grad(const std::vector<double>& x, const std::vector<double>& dy, int64_t N, int64_t C,
                                  int64_t K, int64_t H, int64_t W, double eps) {
  const int64_t th = (H + 1) / 2, tw = (W + 1) / 2;
  WeightGradient r{std::vector<long double>(size_t(K * C * 9)), std::vector<long double>(size_t(K * C * 9))};
  auto X = [&](int64_t n, int64_t c, int64_t i, int64_t j) -> long double {
    return i < 0 || i >= H || j < 0 || j >= W ? 0 : x[size_t(((n * C + c) * H + i) * W + j)];
  };
  auto DY = [&](int64_t n, int64_t k, int64_t i, int64_t j) -> long double {
    return i >= H || j >= W ? 0 : dy[size_t(((n * K + k) * H + i) * W + j)];
  };
  const long double bt[4][4] = {{1, 0, 1, 0}, {0, 1, 1, 0}, {0, 1, 1, 0}, {0, 1, 0, 1}};  // |B^T|
  const long double at[2][4] = {{1, 1, 1, 0}, {0, 1, 1, 1}};                               // |A^T|
  const long double gt[3][4] = {{1, 0.5L, 0.5L, 0}, {0, 0.5L, 0.5L, 0}, {0, 0.5L, 0.5L, 1}};  // |G^T|
  for (int64_t k = 0; k < K; ++k)
    for (int64_t c = 0; c < C; ++c) {
      long double* dw = &r.dw[size_t((k * C + c) * 9)];
      long double* bound = &r.bound[size_t((k * C + c) * 9)];
      for (int64_t n = 0; n < N; ++n) {
        for (int64_t i = 0; i < H; ++i)
          for (int64_t j = 0; j < W; ++j)
            for (int a = 0; a < 3; ++a)
              for (int b = 0; b < 3; ++b) dw[a * 3 + b] += DY(n, k, i, j) * X(n, c, i + a - 1, j + b - 1);
        for (int64_t ty = 0; ty < th; ++ty)
          for (int64_t tx = 0; tx < tw; ++tx) {
            long double v[4][4] = {}, m[4][4] = {};
            for (int p = 0; p < 4; ++p)
              for (int q = 0; q < 4; ++q)
                for (int u = 0; u < 4; ++u)
                  for (int t = 0; t < 4; ++t)
                    v[p][q] += bt[p][u] * std::fabs(X(n, c, 2 * ty - 1 + u, 2 * tx - 1 + t)) * bt[q][t];
            for (int p = 0; p < 4; ++p)
              for (int q = 0; q < 4; ++q)
                for (int u = 0; u < 2; ++u)
                  for (int t = 0; t < 2; ++t) m[p][q] += at[u][p] * std::fabs(DY(n, k, 2 * ty + u, 2 * tx + t)) * at[t][q];
            for (int a = 0; a < 3; ++a)
              for (int b = 0; b < 3; ++b)
                for (int p = 0; p < 4; ++p)
                  for (int q = 0; q < 4; ++q) bound[a * 3 + b] += gt[a][p] * gt[b][q] * m[p][q] * v[p][q];
          }
      }
      for (int e = 0; e < 9; ++e) bound[e] = (N * th * tw + 16) * eps * bound[e] + 1e-300L;
    }
  return r;
}

void expect_within(const std::vector<double>& got, const WeightGradient& want, const char* what) {
  ASSERT_EQ(got.size(), want.dw.size()) << what;
  int64_t bad = 0;
  for (size_t i = 0; i < got.size(); ++i)
    if (!(std::fabs(got[i] - want.dw[i]) <= want.bound[i]) && bad++ < 3)
      ADD_FAILURE() << what << " element " << i << ": " << got[i] << " vs " << double(want.dw[i]) << " (bound "
                    << double(want.bound[i]) << ")";
  EXPECT_EQ(bad, 0) << what;
}

std::vector<float> uniform_floats(int64_t n, uint64_t seed) {
  return test::uniform({n}, seed, -1, 1, DType::f32).to_vector<float>();
}

}  // namespace

TEST(Winograd, AllThreeKernelsMatchADirectConvolution) {
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
        const std::vector<Tensor> g = autograd::grad({sum(y * gy)}, {x, w});
        const std::vector<double> gys = gy.to(DType::f64).to_vector<double>();
        expect_near_direct(g[0], direct_conv(gys, turned_filters(ws, s.K, s.C), nullptr, s.N, s.K, s.C, s.H, s.W), eps,
                           "input gradient");
        expect_within(g[1].to(DType::f64).to_vector<double>(),
                      direct_weight_grad(xs, gys, s.N, s.C, s.K, s.H, s.W, eps), "weight gradient");
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

// With blocks of 16 tiles and chunks of a few tiles, the forward's blocks
// and the weight gradient's chunks start and end inside images (and in the
// middle of tile rows), and the last of each is short.
TEST(Winograd, EveryBlockAndChunkBoundary) {
  const cpu::WinogradBlocking small{1, 16 * 7 * 5};  // 16 columns a block; 5 a chunk at C + K = 7
  const Shape5 s{3, 3, 4, 7, 9};                     // 4 x 5 = 20 tiles an image, 60 in all
  const int64_t nx = s.N * s.C * s.H * s.W, ny = s.N * s.K * s.H * s.W;
  const std::vector<float> x = uniform_floats(nx, 21), w = uniform_floats(s.K * s.C * 9, 22),
                           b = uniform_floats(s.K, 23), dy = uniform_floats(ny, 24);
  std::vector<float> y = std::vector<float>(size_t(ny)), dw = std::vector<float>(size_t(s.K * s.C * 9));
  cpu::winograd_conv3x3(x.data(), w.data(), b.data(), y.data(), s.N, s.C, s.K, s.H, s.W, small);
  cpu::winograd_conv3x3_weight_grad(x.data(), dy.data(), dw.data(), s.N, s.C, s.K, s.H, s.W, small);

  const std::vector<double> xd(x.begin(), x.end()), wd(w.begin(), w.end()), bd(b.begin(), b.end()),
      dyd(dy.begin(), dy.end());
  expect_near_direct(from_vector(y, {ny}), direct_conv(xd, wd, &bd, s.N, s.C, s.K, s.H, s.W),
                     0x1p-24, "forward");
  expect_within(std::vector<double>(dw.begin(), dw.end()), direct_weight_grad(xd, dyd, s.N, s.C, s.K, s.H, s.W, 0x1p-24),
                "weight gradient");
}

// The bits depend on the shapes alone: one and two threads agree exactly,
// across blocks and chunks.
TEST(Winograd, BitsDoNotDependOnTheThreadCount) {
  // Large enough that every stage runs on both threads: 16 blocks of 16
  // tiles, chunks of 100 tiles (64 an image).
  const cpu::WinogradBlocking small{1, 16 * 96 * 100};
  const Shape5 s{4, 48, 48, 16, 15};
  const std::vector<float> x = uniform_floats(s.N * s.C * s.H * s.W, 31),
                           w = uniform_floats(s.K * s.C * 9, 32),
                           dy = uniform_floats(s.N * s.K * s.H * s.W, 33);
  auto run = [&](int threads) {
    const int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    auto out = std::vector<float>(size_t(s.N * s.K * s.H * s.W + s.K * s.C * 9));
    cpu::winograd_conv3x3(x.data(), w.data(), static_cast<const float*>(nullptr), out.data(), s.N, s.C, s.K, s.H, s.W,
                          small);
    cpu::winograd_conv3x3_weight_grad(x.data(), dy.data(), out.data() + s.N * s.K * s.H * s.W, s.N, s.C, s.K, s.H,
                                      s.W, small);
    omp_set_num_threads(saved);
    return out;
  };
  const std::vector<float> one = run(1), two = run(2);
  EXPECT_EQ(std::memcmp(one.data(), two.data(), one.size() * sizeof(float)), 0);
}
