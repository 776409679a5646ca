// batch_norm, group_norm and layer_norm: values against formulas written
// here with plain engine ops, hand-computed running statistics, float64
// gradient checks (first and second order, contiguous and not), float32
// against float64, and error messages.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <functional>
#include <string>

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

const TensorOptions f64 = TensorOptions{}.with_dtype(DType::f64);


// [1, C, 1, ...] for broadcasting a per-channel vector against x.
Tensor per_channel(const Tensor& v, const Tensor& x) {
  Shape s(size_t(x.dim()), 1);
  s[1] = x.size(1);
  return v.reshape(s);
}

// Reference: normalise x over `dims` (keepdim) with the biased variance,
// written with reductions and pointwise ops only (no norm kernel involved).
Tensor reference_normalize(const Tensor& x, const std::vector<int64_t>& dims, double eps) {
  NoGradGuard no_grad;
  const Tensor centred = x - mean(x, dims, true);
  return centred / sqrt(mean(centred * centred, dims, true) + eps);
}

// The same, differentiable: the gradients of the norms are checked against
// autograd through it.
Tensor normalize_with_ops(const Tensor& x, const std::vector<int64_t>& dims, double eps) {
  const Tensor centred = x - mean(x, dims, true);
  return centred * pow(mean(square(centred), dims, true) + eps, -0.5);
}

// Message of the ng::Error that f throws ("" when none).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

// ---- batch_norm ---------------------------------------------------------------

TEST(BatchNorm, TrainingValuesMatchFormula) {
  const Tensor x = uniform({3, 2, 2, 2}, 1, -2, 3), w = uniform({2}, 2), b = uniform({2}, 3);
  const Tensor y = batch_norm(x, w, b, Tensor(), Tensor(), true, 0.1, 1e-5);
  const Tensor expected = reference_normalize(x, {0, 2, 3}, 1e-5) * per_channel(w, x) + per_channel(b, x);
  expect_close(y, expected, 1e-12);
  // Without affine parameters, each channel comes out with mean 0 and (biased) variance ~1.
  const Tensor z = batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), true);
  expect_close(mean(z, {0, 2, 3}), zeros({2}, f64), 1e-12);
  expect_close(mean(z * z, {0, 2, 3}), ones({2}, f64), 1e-4);
}

TEST(BatchNorm, RunningStatisticsByHand) {
  // Channel 0: 1, 2, 3, 4 -> mean 2.5, biased var 1.25, unbiased 5/3.
  // Channel 1: 0, 0, 2, 6 -> mean 2, biased var 6, unbiased 8.
  const Tensor x = from_vector(std::vector<double>{1, 0, 2, 0, 3, 2, 4, 6}, {4, 2});
  Tensor rm = from_vector(std::vector<double>{1, -1}, {2});
  Tensor rv = from_vector(std::vector<double>{2, 0.5}, {2});
  const double eps = 1e-5;
  const Tensor y = batch_norm(x, Tensor(), Tensor(), rm, rv, true, 0.1, eps);
  expect_close(rm, from_vector(std::vector<double>{0.9 * 1 + 0.1 * 2.5, 0.9 * -1 + 0.1 * 2}, {2}), 1e-14);
  expect_close(rv, from_vector(std::vector<double>{0.9 * 2 + 0.1 * 5.0 / 3.0, 0.9 * 0.5 + 0.1 * 8}, {2}), 1e-14);
  // The output uses the batch's biased variance.
  const double s0 = std::sqrt(1.25 + eps), s1 = std::sqrt(6 + eps);
  expect_close(y,
               from_vector(std::vector<double>{-1.5 / s0, -2 / s1, -0.5 / s0, -2 / s1, 0.5 / s0, 0 / s1,
                                               1.5 / s0, 4 / s1},
                           {4, 2}),
               1e-12);

  // Eval mode then uses (and leaves alone) the running statistics.
  const Tensor rm_before = rm.clone(), rv_before = rv.clone();
  const Tensor w = from_vector(std::vector<double>{2, -1}, {2}), b = from_vector(std::vector<double>{0.5, 3}, {2});
  const Tensor ye = batch_norm(x, w, b, rm, rv, false, 0.1, eps);
  const std::vector<double> m = rm.to_vector<double>(), v = rv.to_vector<double>(), xs = x.to_vector<double>();
  std::vector<double> expected(8);
  for (int i = 0; i < 8; ++i) {
    const int c = i % 2;
    expected[i] = (xs[i] - m[c]) / std::sqrt(v[c] + eps) * (c ? -1.0 : 2.0) + (c ? 3.0 : 0.5);
  }
  expect_close(ye, from_vector(expected, {4, 2}), 1e-12);
  expect_close(rm, rm_before, 0);
  expect_close(rv, rv_before, 0);
}

TEST(BatchNorm, RunningStatisticsCountSpatialPositions) {
  // n = N * H * W values per channel enter the unbiased correction.
  const Tensor x = uniform({2, 3, 2, 3}, 4, -1, 2);
  Tensor rm = zeros({3}, f64), rv = ones({3}, f64);
  const uint64_t version = rv.impl()->storage->version();
  batch_norm(x, Tensor(), Tensor(), rm, rv, true, 0.25);
  EXPECT_GT(rv.impl()->storage->version(), version) << "in-place update must bump the version";
  const Tensor mu = mean(x, {0, 2, 3});
  const Tensor var_unbiased = sum(square(x - per_channel(mu, x)), {0, 2, 3}) / 11.0;
  expect_close(rm, mu * 0.25, 1e-13);
  expect_close(rv, var_unbiased * 0.25 + 0.75, 1e-13);
}

TEST(BatchNorm, RunningStatsAreNotRecorded) {
  const Tensor x = leaf({4, 3}, 5);
  Tensor rm = zeros({3}, f64), rv = ones({3}, f64);
  batch_norm(x, Tensor(), Tensor(), rm, rv, true);
  EXPECT_FALSE(rm.requires_grad());
  EXPECT_FALSE(rv.requires_grad());
}

TEST(BatchNorm, TrainingGradcheck) {
  Tensor rm = zeros({3}, f64), rv = ones({3}, f64);
  auto affine = [&](const Ins& in) { return batch_norm(in[0], in[1], in[2], rm, rv, true); };
  auto plain = [](const Ins& in) { return batch_norm(in[0], Tensor(), Tensor(), Tensor(), Tensor(), true); };
  expect_gradcheck(affine, {leaf({4, 3}, 10), leaf({3}, 11), leaf({3}, 12)});
  expect_gradcheck(plain, {leaf({4, 3}, 13)});
  Tensor rm2 = zeros({2}, f64), rv2 = ones({2}, f64);
  auto affine4 = [&](const Ins& in) { return batch_norm(in[0], in[1], in[2], rm2, rv2, true); };
  expect_gradcheck(affine4, {leaf({3, 2, 3, 3}, 14), leaf({2}, 15), leaf({2}, 16)});
  expect_gradcheck(affine4, {leaf_nc({3, 2, 3, 3}, 17), leaf({2}, 18), leaf({2}, 19)});
  expect_gradcheck(plain, {leaf_nc({3, 2, 3, 3}, 20)});
  // Only the parameters need gradients: the fused kernel skips the input's.
  expect_gradcheck(affine4, {uniform({3, 2, 3, 3}, 21), leaf({2}, 22), leaf({2}, 23)});
}

// Batch norm with few positions a channel (x [N, C] after a Linear, or
// [N, C, 3]) sums each channel's column across the batch (engine/cpu/norm.cpp);
// with more channels than one thread's share, the shares meet. Values and
// all three gradients against the formula written with plain ops, and the
// same bits on one and two threads.
TEST(BatchNorm, ManyChannelsWithFewPositionsMatchTheFormula) {
  for (const Shape& shape : {Shape{16, 1100}, Shape{5, 1030, 3}, Shape{2, 7}}) {
    SCOPED_TRACE(shape_str(shape));
    const int64_t C = shape[1];
    std::vector<int64_t> dims{0};
    if (shape.size() == 3) dims.push_back(2);
    const Tensor x = uniform(shape, 50, -2, 3).requires_grad_(), r = uniform(shape, 51);
    const Tensor w = uniform({C}, 52).requires_grad_(), b = uniform({C}, 53).requires_grad_();
    const Tensor y = batch_norm(x, w, b, Tensor(), Tensor(), true);
    const Tensor want = normalize_with_ops(x, dims, 1e-5) * per_channel(w, x) + per_channel(b, x);
    expect_close(y, want, 1e-11);
    const std::vector<Tensor> got = autograd::grad({sum(y * r)}, {x, w, b});
    const std::vector<Tensor> expected = autograd::grad({sum(want * r)}, {x, w, b});
    for (size_t i = 0; i < got.size(); ++i) expect_close(got[i], expected[i], 1e-9);
  }
  auto bits = [](int threads) {
    const int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    const Tensor x = uniform({32, 1500}, 54, -1, 1, DType::f32).requires_grad_();
    const Tensor w = uniform({1500}, 55, -1, 1, DType::f32).requires_grad_();
    const Tensor y = batch_norm(x, w, Tensor(), Tensor(), Tensor(), true);
    const std::vector<Tensor> g = autograd::grad({sum(y * y)}, {x, w});
    omp_set_num_threads(saved);
    return cat({y.reshape({-1}), g[0].reshape({-1}), g[1]}, 0).to_vector<float>();
  };
  EXPECT_EQ(bits(1), bits(2));
}

TEST(BatchNorm, EvalGradcheck) {
  const Tensor rm = uniform({3}, 30), rv = uniform({3}, 31, 0.5, 2);
  auto affine = [&](const Ins& in) { return batch_norm(in[0], in[1], in[2], rm, rv, false); };
  auto plain = [&](const Ins& in) { return batch_norm(in[0], Tensor(), Tensor(), rm, rv, false); };
  expect_gradcheck(affine, {leaf({4, 3}, 32), leaf({3}, 33), leaf({3}, 34)});
  expect_gradcheck(affine, {leaf_nc({2, 3, 2, 2}, 35), leaf({3}, 36), leaf({3}, 37)});
  expect_gradcheck(plain, {leaf_nc({4, 3}, 38)});
}

TEST(BatchNorm, SecondOrder) {
  Tensor rm = zeros({2}, f64), rv = ones({2}, f64);
  expect_gradgradcheck([&](const Ins& in) { return batch_norm(in[0], in[1], in[2], rm, rv, true); },
                       {leaf({3, 2}, 40), leaf({2}, 41), leaf({2}, 42)});
  expect_gradgradcheck([](const Ins& in) { return batch_norm(in[0], Tensor(), Tensor(), Tensor(), Tensor(), true); },
                       {leaf({2, 2, 2}, 43)});
  expect_gradgradcheck([&](const Ins& in) { return batch_norm(in[0], in[1], in[2], rm, rv, false); },
                       {leaf({3, 2}, 44), leaf({2}, 45), leaf({2}, 46)});
}

// ---- group_norm ---------------------------------------------------------------

TEST(GroupNorm, ValuesMatchFormula) {
  const Tensor x = uniform({2, 6, 2, 2}, 50, -2, 3), w = uniform({6}, 51), b = uniform({6}, 52);
  for (int64_t groups : {1, 2, 3, 6}) {
    SCOPED_TRACE(groups);
    const Tensor grouped = x.reshape({2, groups, -1});
    const Tensor expected =
        reference_normalize(grouped, {2}, 1e-5).reshape(x.shape()) * per_channel(w, x) + per_channel(b, x);
    expect_close(group_norm(x, groups, w, b), expected, 1e-12);
  }
  // [N, C] input: a group of C/G channels with no spatial positions.
  const Tensor x2 = uniform({3, 4}, 53);
  expect_close(group_norm(x2, 2, Tensor(), Tensor()), reference_normalize(x2.reshape({3, 2, 2}), {2}, 1e-5).reshape({3, 4}),
               1e-12);
}

TEST(GroupNorm, Gradcheck) {
  auto gn = [](int64_t groups) {
    return [groups](const Ins& in) { return group_norm(in[0], groups, in[1], in[2]); };
  };
  for (int64_t groups : {1, 2, 3, 6}) {  // G = 1, 2 < G < C, G = C
    SCOPED_TRACE(groups);
    expect_gradcheck(gn(groups), {leaf({2, 6, 3}, 60), leaf({6}, 61), leaf({6}, 62)});
  }
  expect_gradcheck(gn(2), {leaf_nc({2, 4, 2, 2}, 63), leaf({4}, 64), leaf({4}, 65)});
  expect_gradcheck([](const Ins& in) { return group_norm(in[0], 2, Tensor(), Tensor()); }, {leaf_nc({3, 4, 3}, 66)});
  expect_gradcheck([](const Ins& in) { return group_norm(in[0], 2, in[1], Tensor()); }, {leaf({2, 4}, 67), leaf({4}, 68)});
}

TEST(GroupNorm, SecondOrder) {
  expect_gradgradcheck([](const Ins& in) { return group_norm(in[0], 2, in[1], in[2]); },
                       {leaf({2, 4, 2}, 70), leaf({4}, 71), leaf({4}, 72)});
  expect_gradgradcheck([](const Ins& in) { return group_norm(in[0], 1, Tensor(), Tensor()); }, {leaf({2, 2, 2}, 73)});
}

// ---- layer_norm ---------------------------------------------------------------

TEST(LayerNorm, ValuesByHandAndFormula) {
  // [1, 2, 3]: mean 2, biased variance 2/3.
  const Tensor x = from_vector(std::vector<double>{1, 2, 3}, {1, 3});
  const double s = std::sqrt(2.0 / 3.0 + 1e-5);
  expect_close(layer_norm(x, {3}, Tensor(), Tensor()), from_vector(std::vector<double>{-1 / s, 0, 1 / s}, {1, 3}),
               1e-14);

  const Tensor x3 = uniform({2, 3, 4}, 80, -1, 2), w = uniform({3, 4}, 81), b = uniform({3, 4}, 82);
  expect_close(layer_norm(x3, {3, 4}, w, b), reference_normalize(x3, {1, 2}, 1e-5) * w + b, 1e-12);
  const Tensor w1 = uniform({4}, 83), b1 = uniform({4}, 84);
  expect_close(layer_norm(x3, {4}, w1, b1), reference_normalize(x3, {2}, 1e-5) * w1 + b1, 1e-12);
  expect_close(layer_norm(x3, {2, 3, 4}, Tensor(), Tensor()), reference_normalize(x3, {0, 1, 2}, 1e-5), 1e-12);
}

TEST(LayerNorm, Gradcheck) {
  expect_gradcheck([](const Ins& in) { return layer_norm(in[0], {5}, in[1], in[2]); },
                   {leaf({3, 5}, 90), leaf({5}, 91), leaf({5}, 92)});
  expect_gradcheck([](const Ins& in) { return layer_norm(in[0], {3, 4}, in[1], in[2]); },
                   {leaf({2, 3, 4}, 93), leaf({3, 4}, 94), leaf({3, 4}, 95)});
  expect_gradcheck([](const Ins& in) { return layer_norm(in[0], {3, 4}, in[1], in[2]); },
                   {leaf_nc({2, 3, 4}, 96), leaf_nc({3, 4}, 97), leaf({3, 4}, 98)});
  expect_gradcheck([](const Ins& in) { return layer_norm(in[0], {4}, Tensor(), Tensor()); }, {leaf_nc({3, 4}, 99)});
}

TEST(LayerNorm, SecondOrder) {
  expect_gradgradcheck([](const Ins& in) { return layer_norm(in[0], {3}, in[1], in[2]); },
                       {leaf({2, 3}, 100), leaf({3}, 101), leaf({3}, 102)});
  expect_gradgradcheck([](const Ins& in) { return layer_norm(in[0], {2, 2}, Tensor(), Tensor()); },
                       {leaf({2, 2, 2}, 103)});
}

// ---- shared properties ------------------------------------------------------------

// The three norms, each with a weight and bias of param_shape, against the
// same normalisation written with reductions and pointwise ops.
struct NormCase {
  std::function<Tensor(const Ins&)> f, reference;
  Shape param_shape;
};

std::vector<NormCase> norm_cases(Tensor& rm, Tensor& rv) {
  return {
      {[&](const Ins& in) { return batch_norm(in[0], in[1], in[2], rm, rv, true); },
       [](const Ins& in) {
         return normalize_with_ops(in[0], {0, 2, 3}, 1e-5) * per_channel(in[1], in[0]) + per_channel(in[2], in[0]);
       },
       {4}},
      {[](const Ins& in) { return group_norm(in[0], 2, in[1], in[2]); },
       [](const Ins& in) {
         const Tensor x = normalize_with_ops(in[0].reshape({2, 2, -1}), {2}, 1e-5).reshape(in[0].shape());
         return x * per_channel(in[1], in[0]) + per_channel(in[2], in[0]);
       },
       {4}},
      {[](const Ins& in) { return layer_norm(in[0], {3, 2}, in[1], in[2]); },
       [](const Ins& in) { return normalize_with_ops(in[0], {2, 3}, 1e-5) * in[1] + in[2]; }, {3, 2}},
  };
}

// The fused backward kernel's gradients, and their own gradients (the
// backward ops' backward), against autograd through the reference.
TEST(Norms, BackwardAndItsBackwardMatchTheFormulaWrittenWithOps) {
  Tensor rm = zeros({4}, f64), rv = ones({4}, f64);
  const std::vector<NormCase> cases = norm_cases(rm, rv);
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(i);
    const Shape xs = {2, 4, 3, 2}, ps = cases[i].param_shape;
    const Ins in = {leaf(xs, 110), leaf(ps, 111), leaf(ps, 112)};
    const Tensor r = uniform(xs, 113);
    for (bool graph : {false, true}) {
      const Ins ours = autograd::grad({sum(cases[i].f(in) * r)}, in, {}, graph, graph);
      const Ins theirs = autograd::grad({sum(cases[i].reference(in) * r)}, in, {}, graph, graph);
      for (size_t k = 0; k < 3; ++k) expect_close(ours[k], theirs[k], 1e-12);
      if (!graph) continue;
      // A second backward through every gradient at once.
      const Tensor r2 = uniform(xs, 114), rp = uniform(ps, 115);
      auto second = [&](const Ins& g) { return sum(g[0] * r2) + sum(g[1] * rp) + sum(g[2] * rp); };
      const Ins ours2 = autograd::grad({second(ours)}, in, {}, false, false, /*allow_unused=*/true);
      const Ins theirs2 = autograd::grad({second(theirs)}, in, {}, false, false, true);
      for (size_t k = 0; k < 3; ++k) {
        ASSERT_EQ(ours2[k].defined(), theirs2[k].defined()) << k;
        if (ours2[k].defined()) expect_close(ours2[k], theirs2[k], 1e-11);
      }
    }
  }
}

// Third derivatives: the backward of the backward's backward, checked by
// finite differences of the input gradient's own gradients.
TEST(Norms, ThirdOrder) {
  Tensor rm = zeros({2}, f64), rv = ones({2}, f64);
  const Tensor r = uniform({2, 2, 3}, 116);
  const std::vector<std::function<Tensor(const Ins&)>> norms = {
      [&](const Ins& in) { return batch_norm(in[0], in[1], in[2], rm, rv, true); },
      [](const Ins& in) { return group_norm(in[0], 1, in[1], in[2]); },
      [](const Ins& in) { return layer_norm(in[0], {3}, in[1], in[2]); },
  };
  for (size_t i = 0; i < norms.size(); ++i) {
    SCOPED_TRACE(i);
    const Shape ps = i == 2 ? Shape{3} : Shape{2};
    // The sum of the gradients of sum(norm * r), a function of x, w, b whose
    // second derivatives are the norm's third.
    // (The check also evaluates it with recording off: the gradients need it on.)
    auto gradients = [&](const Ins& in) {
      const GradModeGuard recording(true);
      const Ins g = autograd::grad({sum(norms[i](in) * r)}, in, {}, true, true);
      return sum(g[0] * g[0]) + sum(g[1] * in[1]) + sum(g[2] * g[1]);
    };
    expect_gradgradcheck(gradients, {leaf({2, 2, 3}, 117), leaf(ps, 118), leaf(ps, 119)});
  }
}

TEST(Norms, Float32MatchesFloat64) {
  const Tensor x = uniform({3, 4, 5}, 120, -2, 2), w = uniform({4}, 121), b = uniform({4}, 122);
  const Tensor wl = uniform({5}, 123), bl = uniform({5}, 124);
  auto run = [&](DType dt) {
    auto as_leaf = [dt](const Tensor& t) { return t.to(dt).detach().requires_grad_(); };
    const Ins in = {as_leaf(x), as_leaf(w), as_leaf(b), as_leaf(wl), as_leaf(bl)};
    Tensor rm = zeros({4}, TensorOptions{}.with_dtype(dt)), rv = ones({4}, TensorOptions{}.with_dtype(dt));
    const Tensor y1 = batch_norm(in[0], in[1], in[2], rm, rv, true);
    const Tensor y2 = group_norm(in[0], 2, in[1], in[2]);
    const Tensor y3 = layer_norm(in[0], {5}, in[3], in[4]);
    const Tensor y4 = batch_norm(in[0], in[1], in[2], rm, rv, false);
    const Tensor r = uniform(x.shape(), 125, -1, 1, dt);
    Ins outs = {y1, y2, y3, y4, rm, rv};
    const Ins grads = autograd::grad({sum((y1 + y2 * 2.0 + y3 * 3.0 + y4 * 0.5) * r)}, in);
    outs.insert(outs.end(), grads.begin(), grads.end());
    return outs;
  };
  const Ins a = run(DType::f32), e = run(DType::f64);
  for (size_t i = 0; i < a.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(a[i].dtype(), DType::f32);
    expect_close(a[i], e[i], 2e-5, 2e-5);
  }
}

// Big enough (32768 elements) that the kernels' loops run on threads.
TEST(Norms, LargeInputs) {
  const Tensor x = uniform({4, 8, 32, 32}, 150, -1, 2), w = uniform({8}, 151), b = uniform({8}, 152);
  expect_close(batch_norm(x, w, b, Tensor(), Tensor(), true),
               reference_normalize(x, {0, 2, 3}, 1e-5) * per_channel(w, x) + per_channel(b, x), 1e-12);
  expect_close(group_norm(x, 4, w, b),
               reference_normalize(x.reshape({4, 4, -1}), {2}, 1e-5).reshape(x.shape()) * per_channel(w, x) +
                   per_channel(b, x),
               1e-12);
  const Tensor r = uniform(x.shape(), 153);
  for (int which = 0; which < 2; ++which) {
    SCOPED_TRACE(which);
    auto f = [&](const Ins& in) {
      return which == 0 ? batch_norm(in[0], in[1], in[2], Tensor(), Tensor(), true) : group_norm(in[0], 4, in[1], in[2]);
    };
    auto reference = [&](const Ins& in) {
      const Tensor xhat = which == 0 ? normalize_with_ops(in[0], {0, 2, 3}, 1e-5)
                                     : normalize_with_ops(in[0].reshape({4, 4, -1}), {2}, 1e-5).reshape(x.shape());
      return xhat * per_channel(in[1], in[0]) + per_channel(in[2], in[0]);
    };
    const Ins in = {x.detach().requires_grad_(), w.detach().requires_grad_(), b.detach().requires_grad_()};
    const Ins ours = autograd::grad({sum(f(in) * r)}, in);
    const Ins theirs = autograd::grad({sum(reference(in) * r)}, in);
    for (size_t k = 0; k < 3; ++k) expect_close(ours[k], theirs[k], 1e-9, 1e-9);
  }
}

// Two-pass statistics in double: a huge offset does not destroy the
// variance (E[x^2] - E[x]^2 would cancel to garbage here).
TEST(Norms, StableForLargeOffset) {
  const Tensor x = uniform({4, 16}, 130) + 1e8;
  const Tensor y = layer_norm(x, {16}, Tensor(), Tensor(), 0.0);
  expect_close(y, reference_normalize(x - 1e8, {1}, 0.0), 1e-6);
  const Tensor z = group_norm(x.reshape({4, 4, 4}), 2, Tensor(), Tensor(), 0.0);
  expect_close(mean(square(z.reshape({4, 2, 8})), {2}), ones({4, 2}, f64), 1e-6);
}

TEST(Norms, ErrorsNameTheShapes) {
  const Tensor x = uniform({2, 6, 3}, 140);
  std::string msg = error_of([&] { group_norm(x, 4, Tensor(), Tensor()); });
  EXPECT_NE(msg.find("group_norm"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[2,6,3]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("4 groups"), std::string::npos) << msg;
  EXPECT_NE(error_of([&] { group_norm(x, 0, Tensor(), Tensor()); }).find("0 groups"), std::string::npos);

  msg = error_of([&] { group_norm(x, 2, uniform({5}, 1), Tensor()); });
  EXPECT_NE(msg.find("weight has shape [5]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("needs [6]"), std::string::npos) << msg;

  msg = error_of([&] { batch_norm(x, Tensor(), uniform({2}, 1), Tensor(), Tensor(), true); });
  EXPECT_NE(msg.find("batch_norm: bias has shape [2]"), std::string::npos) << msg;
  msg = error_of([&] { batch_norm(x, Tensor(), Tensor(), zeros({3}, f64), ones({6}, f64), true); });
  EXPECT_NE(msg.find("running_mean has shape [3]"), std::string::npos) << msg;
  msg = error_of([&] { batch_norm(uniform({5}, 1), Tensor(), Tensor(), Tensor(), Tensor(), true); });
  EXPECT_NE(msg.find("[5]"), std::string::npos) << msg;
  msg = error_of([&] { batch_norm(uniform({1, 3}, 1), Tensor(), Tensor(), Tensor(), Tensor(), true); });
  EXPECT_NE(msg.find("more than 1 value per channel"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[1,3]"), std::string::npos) << msg;
  msg = error_of([&] { batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), false); });
  EXPECT_NE(msg.find("eval mode"), std::string::npos) << msg;
  msg = error_of([&] { batch_norm(x, ones({6}), Tensor(), Tensor(), Tensor(), true); });
  EXPECT_NE(msg.find("dtype mismatch"), std::string::npos) << msg;

  msg = error_of([&] { layer_norm(x, {6}, Tensor(), Tensor()); });
  EXPECT_NE(msg.find("normalized_shape [6]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[2,6,3]"), std::string::npos) << msg;
  EXPECT_NE(error_of([&] { layer_norm(x, {}, Tensor(), Tensor()); }).find("layer_norm"), std::string::npos);
  EXPECT_NE(error_of([&] { layer_norm(x, {1, 2, 6, 3}, Tensor(), Tensor()); }).find("layer_norm"), std::string::npos);
  msg = error_of([&] { layer_norm(x, {6, 3}, uniform({3}, 1), Tensor()); });
  EXPECT_NE(msg.find("weight has shape [3]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("needs [6,3]"), std::string::npos) << msg;
}

// A NaN in the input makes its statistics NaN (the one-pass variance is not
// clamped to a finite value), so a diverged batch cannot leave a finite-looking
// running variance behind.
TEST(Norms, NaNInputGivesNaNStatistics) {
  const Tensor x = from_vector(std::vector<double>{1, 2, std::nan(""), 4, 5, 6, 7, 8}, {4, 2});
  Tensor rm = zeros({2}, f64), rv = ones({2}, f64);
  batch_norm(x, Tensor(), Tensor(), rm, rv, true);
  EXPECT_TRUE(std::isnan(rm.to_vector<double>()[0]));
  EXPECT_TRUE(std::isnan(rv.to_vector<double>()[0]));
  EXPECT_FALSE(std::isnan(rv.to_vector<double>()[1]));
}
