// Matrix products: matmul (every torch.matmul shape case), bmm and linear.
// Values against a naive triple loop written here, float64 gradient checks on
// contiguous, broadcast and transposed inputs, second order, and errors.
#include <gtest/gtest.h>

#include <string>

#include "engine/cpu/gemm.h"
#include "engine/nanogen.h"
#include "support/gradcheck.h"

using namespace ng;
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


// Naive reference for a[..., M, K] @ b[..., K, N] with broadcast batch dims
// (both operands 2+ dims), by index arithmetic on row-major host copies.
Tensor naive_matmul(const Tensor& a, const Tensor& b) {
  const std::vector<double> va = a.to_vector<double>(), vb = b.to_vector<double>();
  const int64_t m = a.size(-2), k = a.size(-1), n = b.size(-1);
  const Shape ba(a.shape().begin(), a.shape().end() - 2), bb(b.shape().begin(), b.shape().end() - 2);
  const size_t nd = std::max(ba.size(), bb.size());
  Shape batch(nd);
  for (size_t i = 0; i < nd; ++i) {
    const int64_t da = i + ba.size() >= nd ? ba[i + ba.size() - nd] : 1;
    const int64_t db = i + bb.size() >= nd ? bb[i + bb.size() - nd] : 1;
    batch[i] = std::max(da, db);
  }
  // Row-major index of batch entry `flat` inside an operand with batch dims `own`.
  auto source = [&](int64_t flat, const Shape& own) {
    int64_t idx = 0, stride = 1;
    for (size_t i = nd; i-- > 0;) {
      const int64_t coord = flat % batch[i];
      flat /= batch[i];
      if (i + own.size() >= nd) {
        const int64_t size = own[i + own.size() - nd];
        idx += (size == 1 ? 0 : coord) * stride;
        stride *= size;
      }
    }
    return idx;
  };
  std::vector<double> out;
  for (int64_t p = 0; p < shape_numel(batch); ++p) {
    const double* pa = va.data() + source(p, ba) * m * k;
    const double* pb = vb.data() + source(p, bb) * k * n;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double acc = 0;
        for (int64_t q = 0; q < k; ++q) acc += pa[i * k + q] * pb[q * n + j];
        out.push_back(acc);
      }
  }
  batch.push_back(m);
  batch.push_back(n);
  return from_vector(out, batch);
}

// The same values as t, transposed in memory: t.t() of a contiguous [N,M].
Tensor transposed_layout(const Tensor& t) { return t.t().contiguous().t(); }

}  // namespace

// ---- values ---------------------------------------------------------------------

TEST(Matmul, MatchesNaiveLoop2D) {
  for (DType dt : {DType::f32, DType::f64}) {
    // Awkward sizes, not multiples of any BLAS block.
    const Tensor a = uniform({37, 53}, 1, -1, 1, dt), b = uniform({53, 29}, 2, -1, 1, dt);
    const Tensor c = matmul(a, b);
    EXPECT_EQ(c.dtype(), dt);
    expect_close(c, naive_matmul(a, b), dt == DType::f32 ? 1e-4 : 1e-12);
  }
}

TEST(Matmul, ShapeCasesMatchNaiveLoop) {
  struct Case {
    Shape a, b, out;
  };
  const std::vector<Case> cases = {
      {{4}, {4}, {}},                      // dot product
      {{4}, {4, 3}, {3}},                  // vector @ matrix
      {{3, 4}, {4}, {3}},                  // matrix @ vector
      {{2, 3, 4}, {4}, {2, 3}},            // batch @ vector
      {{4}, {2, 4, 3}, {2, 3}},            // vector @ batch
      {{2, 3, 4}, {4, 5}, {2, 3, 5}},      // batch @ matrix (folded into one GEMM)
      {{3, 4}, {2, 4, 5}, {2, 3, 5}},      // matrix @ batch (broadcast)
      {{2, 1, 3, 4}, {5, 4, 2}, {2, 5, 3, 2}},  // broadcast batch dims
      {{3, 0}, {0, 2}, {3, 2}},            // empty inner dim: zeros
      {{0, 3}, {3, 2}, {0, 2}},
  };
  for (DType dt : {DType::f32, DType::f64}) {
    for (size_t i = 0; i < cases.size(); ++i) {
      const Case& c = cases[i];
      const Tensor a = uniform(c.a, 10 + i, -1, 1, dt), b = uniform(c.b, 20 + i, -1, 1, dt);
      const Tensor out = matmul(a, b);
      ASSERT_EQ(out.shape(), c.out) << "case " << i;
      // Promote 1-D operands by hand for the reference, then drop the dims.
      const Tensor ra = a.dim() == 1 ? a.reshape({1, a.size(0)}) : a;
      const Tensor rb = b.dim() == 1 ? b.reshape({b.size(0), 1}) : b;
      expect_close(out, naive_matmul(ra, rb).reshape(c.out), dt == DType::f32 ? 1e-5 : 1e-13);
    }
  }
}

TEST(Matmul, EmptyInnerDimGivesZeros) {
  const Tensor c = matmul(ones({3, 0}), ones({0, 2}));
  EXPECT_EQ(c.to_vector<float>(), std::vector<float>(6, 0.0f));
}

TEST(Matmul, TransposedAndStridedInputs) {
  for (DType dt : {DType::f32, DType::f64}) {
    const double tol = dt == DType::f32 ? 1e-5 : 1e-13;
    const Tensor a = uniform({6, 5}, 31, -1, 1, dt), b = uniform({5, 7}, 32, -1, 1, dt);
    const Tensor ref = naive_matmul(a, b);
    expect_close(matmul(transposed_layout(a), b), ref, tol);                   // A read as Trans
    expect_close(matmul(a, transposed_layout(b)), ref, tol);                   // B read as Trans
    expect_close(matmul(transposed_layout(a), transposed_layout(b)), ref, tol);
    expect_close(matmul(non_contiguous(a), non_contiguous(b)), ref, tol);       // no unit stride: copied
    // A column slice: unit stride, rows further apart than the row length.
    const Tensor wide = uniform({6, 9}, 33, -1, 1, dt);
    const Tensor sliced = wide.narrow(1, 2, 5);
    expect_close(matmul(sliced, b), naive_matmul(sliced.contiguous(), b), tol);
    // Stride-0 (expanded) operands.
    const Tensor row = uniform({1, 5}, 34, -1, 1, dt);
    expect_close(matmul(row.expand({4, 5}), b), naive_matmul(row.expand({4, 5}).contiguous(), b), tol);
    // Batched with transposed matrices inside.
    const Tensor ba = uniform({3, 5, 4}, 35, -1, 1, dt), bb = uniform({3, 5, 6}, 36, -1, 1, dt);
    expect_close(matmul(ba.transpose(1, 2), bb), naive_matmul(ba.transpose(1, 2).contiguous(), bb), tol);
  }
}

TEST(Matmul, LargeProductsSplitOverThreadsMatchNaiveLoop) {
  // Big enough to be cut into row blocks (tall output) or column blocks
  // (wide output), with either operand read transposed, and batches spread
  // over threads (one operand broadcast with stride 0).
  for (DType dt : {DType::f32, DType::f64}) {
    const double tol = dt == DType::f32 ? 1e-4 : 1e-12;
    const Tensor tall = uniform({301, 70}, 37, -1, 1, dt), skinny = uniform({70, 41}, 38, -1, 1, dt);
    const Tensor ref_tall = naive_matmul(tall, skinny);
    expect_close(matmul(tall, skinny), ref_tall, tol);
    expect_close(matmul(transposed_layout(tall), transposed_layout(skinny)), ref_tall, tol);
    const Tensor wide_b = uniform({70, 299}, 39, -1, 1, dt), short_a = uniform({43, 70}, 40, -1, 1, dt);
    const Tensor ref_wide = naive_matmul(short_a, wide_b);
    expect_close(matmul(short_a, wide_b), ref_wide, tol);
    expect_close(matmul(transposed_layout(short_a), transposed_layout(wide_b)), ref_wide, tol);
    const Tensor ba = uniform({9, 33, 40}, 47, -1, 1, dt), bb = uniform({40, 35}, 48, -1, 1, dt);
    expect_close(matmul(ba, bb.expand({9, 40, 35})), naive_matmul(ba, bb), tol);
  }
}

TEST(Matmul, BlasTakesTransposedViewsWithoutCopies) {
  const Tensor w = uniform({4, 6}, 41, -1, 1, DType::f32);
  EXPECT_TRUE(cpu::blas_compatible(w));
  EXPECT_TRUE(cpu::blas_compatible(w.t()));
  EXPECT_TRUE(cpu::blas_compatible(w.narrow(1, 1, 3)));
  EXPECT_TRUE(cpu::blas_compatible(uniform({3, 4, 6}, 42).transpose(1, 2)));
  EXPECT_FALSE(cpu::blas_compatible(w.slice(1, 0, 6, 2)));  // stride 2 and 6: needs a copy
  EXPECT_FALSE(cpu::blas_compatible(non_contiguous(w)));
  EXPECT_FALSE(cpu::blas_compatible(uniform({4, 1}, 43).expand({4, 6})));  // stride 0 cannot be a leading dim

  // gemm directly: C = A^T-view @ B^T-view + beta * C.
  const Tensor a = uniform({5, 3}, 44, -1, 1, DType::f32), b = uniform({4, 5}, 45, -1, 1, DType::f32);
  Tensor c = uniform({3, 4}, 46, -1, 1, DType::f32);
  const Tensor expected = naive_matmul(a.t().contiguous(), b.t().contiguous()) + c.to(DType::f64) * 0.5;
  cpu::gemm(c, a.t(), b.t(), 0.5);
  expect_close(c, expected, 1e-5);
}

TEST(Bmm, MatchesNaiveLoop) {
  for (DType dt : {DType::f32, DType::f64}) {
    const Tensor a = uniform({4, 3, 5}, 51, -1, 1, dt), b = uniform({4, 5, 2}, 52, -1, 1, dt);
    expect_close(bmm(a, b), naive_matmul(a, b), dt == DType::f32 ? 1e-5 : 1e-13);
  }
}

// x[..., in] @ w^T + b, by the naive loop.
static Tensor naive_linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  Shape out_shape = x.shape();
  out_shape.back() = w.size(0);
  Tensor out = naive_matmul(x.reshape({-1, x.size(-1)}), w.t().contiguous());
  if (b.defined()) out = out + b.to(DType::f64);
  return out.reshape(out_shape);
}

TEST(Linear, MatchesNaiveLoop) {
  for (DType dt : {DType::f32, DType::f64}) {
    const double tol = dt == DType::f32 ? 1e-4 : 1e-12;
    const Tensor w = uniform({29, 70}, 61, -1, 1, dt), b = uniform({29}, 62, -1, 1, dt);
    const Tensor x2 = uniform({13, 70}, 63, -1, 1, dt), x3 = uniform({2, 3, 70}, 64, -1, 1, dt);
    expect_close(linear(x2, w, b), naive_linear(x2, w, b), tol);
    expect_close(linear(x2, w), naive_linear(x2, w, {}), tol);
    expect_close(linear(x3, w, b), naive_linear(x3, w, b), tol);
    expect_close(linear(non_contiguous(x3), non_contiguous(w), b), naive_linear(x3, w, b), tol);
    const Tensor x1 = uniform({70}, 65, -1, 1, dt);
    EXPECT_EQ(linear(x1, w, b).shape(), Shape{29});
    expect_close(linear(x1, w, b), naive_linear(x1.reshape({1, 70}), w, b).reshape({29}), tol);
  }
}

TEST(Linear, HotPathShapeIsAccurate) {
  // The VAE encoder's Linear(3136, 256) on a batch of 64, in float32.
  const Tensor x = uniform({64, 3136}, 71, -1, 1, DType::f32), w = uniform({256, 3136}, 72, -0.02, 0.02, DType::f32);
  const Tensor b = uniform({256}, 73, -1, 1, DType::f32);
  expect_close(linear(x, w, b), naive_linear(x, w, b), 1e-4, 1e-4);
}

// ---- gradients -------------------------------------------------------------------

TEST(GradMatmul, EveryShapeCase) {
  auto mm = [](const Ins& in) { return matmul(in[0], in[1]); };
  expect_gradcheck(mm, {leaf({3, 4}, 101), leaf({4, 2}, 102)});
  expect_gradcheck(mm, {leaf({4}, 103), leaf({4}, 104)});
  expect_gradcheck(mm, {leaf({4}, 105), leaf({4, 3}, 106)});
  expect_gradcheck(mm, {leaf({3, 4}, 107), leaf({4}, 108)});
  expect_gradcheck(mm, {leaf({2, 3, 4}, 109), leaf({4}, 110)});
  expect_gradcheck(mm, {leaf({4}, 111), leaf({2, 4, 3}, 112)});
  expect_gradcheck(mm, {leaf({2, 3, 4}, 113), leaf({4, 2}, 114)});
  expect_gradcheck(mm, {leaf({3, 4}, 115), leaf({2, 4, 2}, 116)});
  expect_gradcheck(mm, {leaf({2, 1, 3, 4}, 117), leaf({5, 4, 2}, 118)});
}

TEST(GradMatmul, NonContiguousAndTransposedInputs) {
  auto mm = [](const Ins& in) { return matmul(in[0], in[1]); };
  expect_gradcheck(mm, {leaf_nc({3, 4}, 121), leaf_nc({4, 5}, 122)});
  expect_gradcheck(mm, {leaf_nc({2, 3, 4}, 123), leaf({4, 2}, 124)});
  // Transposes taken inside the function: BLAS gets them as Trans operands.
  expect_gradcheck([](const Ins& in) { return matmul(in[0].t(), in[1].t()); }, {leaf({4, 3}, 125), leaf({5, 4}, 126)});
  expect_gradcheck([](const Ins& in) { return matmul(in[0].transpose(-1, -2), in[1]); },
                   {leaf({2, 4, 3}, 127), leaf({2, 4, 2}, 128)});
}

TEST(GradMatmul, OnlyOneSideRequiresGrad) {
  auto mm = [](const Ins& in) { return matmul(in[0], in[1]); };
  expect_gradcheck(mm, {leaf({3, 4}, 131), uniform({4, 2}, 132)});
  expect_gradcheck(mm, {uniform({2, 3, 4}, 133), leaf({4, 2}, 134)});
}

TEST(GradBmm, Gradcheck) {
  auto f = [](const Ins& in) { return bmm(in[0], in[1]); };
  expect_gradcheck(f, {leaf({2, 3, 4}, 141), leaf({2, 4, 2}, 142)});
  expect_gradcheck(f, {leaf_nc({2, 3, 4}, 143), leaf_nc({2, 4, 2}, 144)});
}

TEST(GradLinear, WithAndWithoutBias) {
  auto with_bias = [](const Ins& in) { return linear(in[0], in[1], in[2]); };
  auto no_bias = [](const Ins& in) { return linear(in[0], in[1]); };
  expect_gradcheck(with_bias, {leaf({4, 5}, 151), leaf({3, 5}, 152), leaf({3}, 153)});
  expect_gradcheck(no_bias, {leaf({4, 5}, 154), leaf({3, 5}, 155)});
  expect_gradcheck(with_bias, {leaf({2, 3, 5}, 156), leaf({4, 5}, 157), leaf({4}, 158)});  // 3-D x
  expect_gradcheck(with_bias, {leaf({5}, 159), leaf({4, 5}, 160), leaf({4}, 161)});        // 1-D x
  expect_gradcheck(with_bias, {leaf_nc({2, 3, 5}, 162), leaf_nc({4, 5}, 163), leaf({4}, 164)});
  expect_gradcheck(no_bias, {leaf({4, 5}, 165), uniform({3, 5}, 166)});  // only x requires grad
}

TEST(GradLinear, BiasGradientSumsOverAllLeadingDims) {
  Tensor x = uniform({2, 3, 4}, 171), w = uniform({5, 4}, 172), b = leaf({5}, 173);
  sum(linear(x, w, b)).backward();
  EXPECT_EQ(b.grad().to_vector<double>(), std::vector<double>(5, 6.0));
}

TEST(GradLinalg, SecondOrder) {
  expect_gradgradcheck([](const Ins& in) { return matmul(in[0], in[1]); }, {leaf({3, 4}, 181), leaf({4, 2}, 182)});
  expect_gradgradcheck([](const Ins& in) { return matmul(in[0], in[1]); },
                       {leaf({2, 1, 2, 3}, 183), leaf({2, 3, 2}, 184)});
  expect_gradgradcheck([](const Ins& in) { return linear(in[0], in[1], in[2]) * linear(in[0], in[1], in[2]); },
                       {leaf({2, 3}, 185), leaf({2, 3}, 186), leaf({2}, 187)});
}

// ---- errors ------------------------------------------------------------------------

TEST(Linalg, ErrorsNameTheShapes) {
  expect_error([] { matmul(ones({2, 3}), ones({4, 5})); }, {"matmul", "[2,3]", "[4,5]"});
  expect_error([] { matmul(ones({3}), ones({4})); }, {"matmul", "[3]", "[4]"});
  expect_error([] { matmul(ones({2, 3, 4}), ones({3, 4, 5})); }, {"matmul", "[2,3,4]", "[3,4,5]"});
  expect_error([] { matmul(ones({}), ones({4})); }, {"matmul", "[]"});
  expect_error([] { matmul(ones({2, 3}), ones({3, 2}, TensorOptions{}.with_dtype(DType::f64))); },
               {"matmul", "dtype"});
  expect_error([] { bmm(ones({2, 3}), ones({2, 3, 4})); }, {"bmm", "[2,3]"});
  expect_error([] { bmm(ones({2, 3, 4}), ones({3, 4, 5})); }, {"bmm", "[2,3,4]", "[3,4,5]"});
  expect_error([] { bmm(ones({2, 3, 4}), ones({2, 5, 5})); }, {"bmm", "[2,3,4]", "[2,5,5]"});
  expect_error([] { linear(ones({8, 3}), ones({4, 5})); }, {"linear", "[8,3]", "[4,5]"});
  expect_error([] { linear(ones({8, 5}), ones({4, 5}), ones({3})); }, {"linear", "[3]", "[4,5]"});
  expect_error([] { linear(ones({8, 5}), ones({5})); }, {"linear", "weight", "[5]"});
}
