// The CPU's vectorised exp, log1p and tanh (SLEEF's deterministic kernels,
// engine/cpu/vector_math.h): their error in ulps against long double, special
// values, every tail length, and the pointwise ops built on them against the
// scalar formulas of kernels/pointwise.h (which strided inputs still take).
#include <gtest/gtest.h>

#include <omp.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "engine/cpu/vector_math.h"
#include "engine/nanogen.h"
#include "kernels/pointwise.h"
#include "support/gradcheck.h"

using namespace ng;

namespace {

// The distance from `got` to the exact value, in units of the last place of
// T at the exact value.
template <class T>
double ulps(T got, long double exact) {
  if (std::isnan(exact)) return std::isnan(got) ? 0 : 1e9;
  if (std::isinf(exact)) return got == T(exact) ? 0 : 1e9;
  const T rounded = T(exact);
  const long double ulp = std::nextafter(std::fabs(rounded), std::numeric_limits<T>::infinity()) - std::fabs(rounded);
  return double(std::fabs((long double)got - exact) / ulp);
}

// Inputs across the ranges that matter: tiny, moderate, near the overflow and
// underflow edges, both signs, evenly on a log scale.
template <class T>
std::vector<T> sweep(T lo, T hi, int per_decade = 2000) {
  std::vector<T> v = {T(0), T(-0.0)};
  for (long double m = lo; m <= hi; m *= std::pow(10.0L, 1.0L / per_decade)) {
    v.push_back(T(m));
    v.push_back(T(-m));
  }
  return v;
}

template <class T, class Vec, class Exact>
double max_ulps(const std::vector<T>& x, Vec vec, Exact exact) {
  std::vector<T> y(x.size());
  vec(x.data(), y.data(), int64_t(x.size()));
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, ulps(y[i], exact((long double)x[i])));
  return worst;
}

}  // namespace

// SLEEF's bound is 1.0 ulp; the measure below counts in the ulp of the
// rounded exact value, which at a power of two can read a hair above 1.
TEST(VectorMath, ErrorWithinOneUlp) {
  auto vexp_f = [](const float* x, float* y, int64_t n) { cpu::exp_array(x, y, n); };
  auto vexp_d = [](const double* x, double* y, int64_t n) { cpu::exp_array(x, y, n); };
  auto vlog1p_f = [](const float* x, float* y, int64_t n) { cpu::log1p_array(x, y, n); };
  auto vlog1p_d = [](const double* x, double* y, int64_t n) { cpu::log1p_array(x, y, n); };
  auto vtanh_f = [](const float* x, float* y, int64_t n) { cpu::tanh_array(x, y, n); };
  auto vtanh_d = [](const double* x, double* y, int64_t n) { cpu::tanh_array(x, y, n); };
  auto exact_exp = [](long double v) { return std::exp(v); };
  auto exact_log1p = [](long double v) { return std::log1p(v); };
  auto exact_tanh = [](long double v) { return std::tanh(v); };
  // exp up to its overflow edge (88.7 in float, 709.8 in double).
  EXPECT_LE(max_ulps(sweep<float>(1e-30f, 88.0f), vexp_f, exact_exp), 1.01);
  EXPECT_LE(max_ulps(sweep<double>(1e-300, 709.0, 200), vexp_d, exact_exp), 1.01);
  // log1p on (-1, inf): the positive sweep and its part above -1.
  std::vector<float> lf;
  for (float v : sweep<float>(1e-30f, 1e30f)) lf.push_back(v > -1 ? v : -v);
  EXPECT_LE(max_ulps(lf, vlog1p_f, exact_log1p), 1.01);
  std::vector<double> ld;
  for (double v : sweep<double>(1e-300, 1e300, 100)) ld.push_back(v > -1 ? v : -v);
  EXPECT_LE(max_ulps(ld, vlog1p_d, exact_log1p), 1.01);
  EXPECT_LE(max_ulps(sweep<float>(1e-30f, 20.0f), vtanh_f, exact_tanh), 1.01);
  EXPECT_LE(max_ulps(sweep<double>(1e-300, 40.0, 200), vtanh_d, exact_tanh), 1.01);
}

// The engine runs SLEEF's AVX kernels where the CPU has AVX and its SSE2
// ones elsewhere: both must give the same bits, or a result would depend on
// the machine. Every function, both types, a wide sweep plus every tail.
TEST(VectorMath, AvxAndSse2KernelsGiveTheSameBits) {
  if (!cpu::avx_kernels_active()) GTEST_SKIP() << "this CPU has no AVX: only the SSE2 kernels run here";
  auto compare = [](auto values, auto f, const char* what) {
    using T = typename decltype(values)::value_type;
    for (size_t n : {values.size(), size_t(1), size_t(3), size_t(5), size_t(7)}) {
      std::vector<T> avx(n), sse2(n);
      f(values.data(), avx.data(), int64_t(n));
      cpu::allow_avx_kernels(false);
      f(values.data(), sse2.data(), int64_t(n));
      cpu::allow_avx_kernels(true);
      EXPECT_EQ(std::memcmp(avx.data(), sse2.data(), n * sizeof(T)), 0) << what << ", " << n << " values";
    }
  };
  std::vector<float> f = sweep<float>(1e-30f, 100.0f);
  std::vector<double> d = sweep<double>(1e-300, 800.0, 200);
  for (float v : {std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                  std::numeric_limits<float>::quiet_NaN(), -0.99999f, -1.0f})
    f.push_back(v);
  for (double v : {std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN(), -0.9999999})
    d.push_back(v);
  compare(f, [](const float* x, float* y, int64_t n) { cpu::exp_array(x, y, n); }, "exp float");
  compare(d, [](const double* x, double* y, int64_t n) { cpu::exp_array(x, y, n); }, "exp double");
  compare(f, [](const float* x, float* y, int64_t n) { cpu::log1p_array(x, y, n); }, "log1p float");
  compare(d, [](const double* x, double* y, int64_t n) { cpu::log1p_array(x, y, n); }, "log1p double");
  compare(f, [](const float* x, float* y, int64_t n) { cpu::tanh_array(x, y, n); }, "tanh float");
  compare(d, [](const double* x, double* y, int64_t n) { cpu::tanh_array(x, y, n); }, "tanh double");
}

TEST(VectorMath, SpecialValuesAndEveryTailLength) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> x = {0.0f, -0.0f, inf, -inf, nan, 100.0f, -110.0f, 1.0f}, y(x.size());
  cpu::exp_array(x.data(), y.data(), int64_t(x.size()));
  EXPECT_EQ(y[0], 1.0f);
  EXPECT_EQ(y[1], 1.0f);
  EXPECT_EQ(y[2], inf);
  EXPECT_EQ(y[3], 0.0f);
  EXPECT_TRUE(std::isnan(y[4]));
  EXPECT_EQ(y[5], inf);   // overflow
  EXPECT_EQ(y[6], 0.0f);  // underflow
  cpu::tanh_array(x.data(), y.data(), int64_t(x.size()));
  EXPECT_EQ(y[2], 1.0f);
  EXPECT_EQ(y[3], -1.0f);
  EXPECT_TRUE(std::isnan(y[4]));
  // Every length up to two vectors and a bit: the tail takes the vector path
  // too, so an element's bits do not depend on where the array ends; in place.
  const Tensor data = test::uniform({37}, 5, -9, 9, DType::f32);
  const std::vector<float> v = data.to_vector<float>();
  std::vector<float> whole(v.size());
  cpu::exp_array(v.data(), whole.data(), int64_t(v.size()));
  for (size_t n = 0; n <= v.size(); ++n) {
    std::vector<float> part(v.begin(), v.begin() + long(n));
    cpu::exp_array(part.data(), part.data(), int64_t(n));
    for (size_t i = 0; i < n; ++i) ASSERT_EQ(part[i], whole[i]) << "length " << n << ", element " << i;
  }
}

// The vectorised ops against the scalar formulas of kernels/pointwise.h with
// libm's exp, log1p and tanh, in float32 and float64; and the same bits for a
// strided view of the same values (every layout takes the vectorised path).
template <class T>
void expect_ops_match_the_formulas(DType dt) {
  using kernels::Unary;
  const Tensor x = test::uniform({301, 7}, 11, -30, 30, dt);
  const Tensor strided = x.t().contiguous().t();
  ASSERT_FALSE(strided.is_contiguous());
  const std::vector<T> xs = x.to_vector<T>();
  // A few ulps relative; silu' passes through zero near x = -1.28, where its
  // 1 + x (1 - s) cancels: there the error is a few ulps of 1, absolute.
  const double eps = dt == DType::f32 ? 0x1p-23 : 0x1p-52, tol = 4 * eps;
  auto check = [&](const char* name, const Tensor& got, const Tensor& got_strided, auto formula, double atol) {
    SCOPED_TRACE(name);
    std::vector<T> want(xs.size());
    for (size_t i = 0; i < xs.size(); ++i) want[i] = formula(xs[i]);
    test::expect_close(got, from_vector(want, x.shape()), atol, tol);
    const std::vector<T> a = got.to_vector<T>(), b = got_strided.contiguous().to_vector<T>();
    for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(a[i], b[i]) << "element " << i << " depends on the layout";
  };
  check("sigmoid", sigmoid(x), sigmoid(strided), [](T v) { return kernels::unary_fn<Unary::sigmoid, T>(v, 0, 0); }, 0);
  check("silu", silu(x), silu(strided), [](T v) { return kernels::unary_fn<Unary::silu, T>(v, 0, 0); }, 0);
  check("silu'", silu_backward(ones_like(x), x), silu_backward(ones_like(x), strided),
        [](T v) { return kernels::unary_fn<Unary::silu_grad, T>(v, 0, 0); }, tol);
  check("softplus", softplus(x), softplus(strided), [](T v) { return kernels::unary_fn<Unary::softplus, T>(v, 0, 0); },
        0);
  check("log_sigmoid", log_sigmoid(x), log_sigmoid(strided),
        [](T v) { return kernels::unary_fn<Unary::log_sigmoid, T>(v, 0, 0); }, 0);
  check("tanh", tanh(x), tanh(strided), [](T v) { return std::tanh(v); }, 0);
}

TEST(VectorMath, PointwiseOpsMatchTheScalarFormulasInEveryLayout) {
  expect_ops_match_the_formulas<float>(DType::f32);
  expect_ops_match_the_formulas<double>(DType::f64);
}

TEST(VectorMath, LargeOpsGiveTheSameBitsOnOneAndTwoThreads) {
  const Tensor x = test::uniform({1 << 17}, 12, -8, 8, DType::f32);
  auto run = [&](int threads) {
    omp_set_num_threads(threads);
    return std::vector<std::vector<float>>{silu(x).to_vector<float>(), softplus(x).to_vector<float>(),
                                           tanh(x).to_vector<float>()};
  };
  const auto one = run(1), two = run(2);
  omp_set_num_threads(2);
  for (size_t k = 0; k < one.size(); ++k)
    for (size_t i = 0; i < one[k].size(); ++i) ASSERT_EQ(one[k][i], two[k][i]) << k << ", element " << i;
}
