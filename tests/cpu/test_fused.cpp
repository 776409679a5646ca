// The fused model ops on the CPU (engine/ops/fused.h): values against the
// composite formulas spelt with separate engine ops (bit for bit where the
// operations are the same), float64 gradient checks, the noise they draw
// against randn, and argument errors; the fused group norm + SiLU.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "engine/cpu/norm.h"
#include "engine/nanogen.h"
#include "support/gradcheck.h"
#include "models/diffusion.h"

using namespace ng;
using test::expect_close;
using test::expect_gradcheck;
using test::expect_gradgradcheck;
using test::non_contiguous;
using test::uniform;
using Ins = std::vector<Tensor>;

namespace {

const TensorOptions kF32 = TensorOptions{}.with_dtype(DType::f32);

Tensor leaf(const Shape& s, uint64_t seed, double lo = -1, double hi = 1) {
  return uniform(s, seed, lo, hi).requires_grad_();
}
Tensor leaf_nc(const Shape& s, uint64_t seed, double lo = -1, double hi = 1) {
  return non_contiguous(uniform(s, seed, lo, hi)).requires_grad_();
}

template <class T>
void expect_bitwise(const Tensor& a, const Tensor& b, const char* what) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  const std::vector<T> x = a.to_vector<T>(), y = b.to_vector<T>();
  int64_t mismatches = 0;
  for (size_t i = 0; i < x.size(); ++i)
    if (x[i] != y[i] && ++mismatches <= 5) ADD_FAILURE() << what << ": element " << i << ": " << x[i] << " vs " << y[i];
  EXPECT_EQ(mismatches, 0) << what;
}

// Expects op() to throw an ng::Error whose message contains every piece.
template <class F>
void expect_error(F op, std::initializer_list<const char*> pieces) {
  try {
    op();
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    for (const char* piece : pieces) EXPECT_NE(std::string(e.what()).find(piece), std::string::npos) << e.what();
  }
}

// The per-sample [N, 1, ..., 1] tensor of f(abar_{t_i}), in dtype `dt`
// (entry t - 1 of alpha_bar holds abar_t).
Tensor per_sample(const std::vector<double>& alpha_bar, const std::vector<int64_t>& t, int64_t dims, DType dt,
                  double (*f)(double)) {
  std::vector<double> v;
  for (int64_t s : t) v.push_back(f(alpha_bar[size_t(s - 1)]));
  Shape shape(size_t(dims), 1);
  shape[0] = int64_t(t.size());
  return from_vector(v, shape).to(dt);
}

Tensor steps_tensor(const std::vector<int64_t>& t, DType dt = DType::f32) {
  std::vector<double> v(t.begin(), t.end());
  return from_vector(v, {int64_t(t.size())}).to(dt);
}

}  // namespace

// ---- the reparameterised sample --------------------------------------------------------

// The fused op must be a drop-in for the VAE's composite: the same bits in
// float32, forward and backward (this is what lets models/vae.cpp use it).
TEST(FusedGaussian, BitIdenticalToTheCompositeInFloat32) {
  const Tensor enc = test::uniform({37, 32}, 1, -3, 3, DType::f32);
  const Tensor eps = test::uniform({37, 16}, 2, -3, 3, DType::f32);
  const Tensor r = test::uniform({37, 16}, 3, -1, 1, DType::f32);
  Tensor a = enc.clone().requires_grad_(), b = enc.clone().requires_grad_();
  // mu and logvar as the VAE makes them: strided halves of one output.
  const std::vector<Tensor> ha = chunk(a * 1.0, 2, 1), hb = chunk(b * 1.0, 2, 1);
  const Tensor fused = sample_gaussian(ha[0], ha[1], eps);
  const Tensor composite = hb[0] + exp(hb[1] * 0.5) * eps;
  expect_bitwise<float>(fused, composite, "z");
  sum(fused * r).backward();
  sum(composite * r).backward();
  expect_bitwise<float>(a.grad(), b.grad(), "gradient");
}

TEST(FusedGaussian, LogvarGradientHasTheBitsOfItsFormula) {
  // The fused backward kernel multiplies in the order g * eps * exp(logvar / 2) * 0.5,
  // with or without a graph of the backward being built.
  const Tensor mu = test::uniform({5, 7}, 4, -2, 2, DType::f32).requires_grad_();
  const Tensor lv = test::uniform({5, 7}, 5, -4, 2, DType::f32).requires_grad_();
  const Tensor eps = test::uniform({5, 7}, 6, -2, 2, DType::f32);
  const Tensor r = test::uniform({5, 7}, 7, -1, 1, DType::f32);
  const Tensor formula = r * eps * exp(lv.detach() * 0.5) * 0.5;
  for (bool graph : {false, true}) {
    const Tensor z = sample_gaussian(mu, lv, eps);
    const std::vector<Tensor> g = autograd::grad({sum(z * r)}, {mu, lv}, {}, false, graph);
    expect_bitwise<float>(g[0], r, "d mu");
    expect_bitwise<float>(g[1], formula, "d logvar");
  }
}

TEST(FusedGaussian, Gradcheck) {
  auto f = [](const Ins& in) { return sample_gaussian(in[0], in[1], in[2]); };
  expect_gradcheck(f, {leaf({3, 5}, 10), leaf({3, 5}, 11, -2, 1), leaf({3, 5}, 12, -2, 2)});
  expect_gradcheck(f, {leaf_nc({4, 3}, 13), leaf_nc({4, 3}, 14, -2, 1), leaf_nc({4, 3}, 15, -2, 2)});
  expect_gradgradcheck(f, {leaf({2, 3}, 16), leaf({2, 3}, 17, -2, 1), leaf({2, 3}, 18, -2, 2)});
}

TEST(FusedGaussian, DrawnEpsIsRandnAndGradcheck) {
  const Tensor mu = test::uniform({6, 9}, 20, -1, 1, DType::f32), lv = test::uniform({6, 9}, 21, -3, 1, DType::f32);
  Generator gen(42, 5), twin(42, 5);
  const GaussianSample s = sample_gaussian(mu, lv, gen);
  const Tensor eps = randn({6, 9}, twin, kF32);
  expect_bitwise<float>(s.eps, eps, "eps");
  expect_bitwise<float>(s.z, mu + exp(lv * 0.5) * eps, "z");
  EXPECT_EQ(gen.offset(), twin.offset());
  EXPECT_FALSE(s.eps.requires_grad());
  // A fixed generator state makes the op a deterministic function of mu, logvar.
  auto f = [](const Ins& in) {
    Generator g(7, 3);
    return sample_gaussian(in[0], in[1], g).z;
  };
  expect_gradcheck(f, {leaf({4, 5}, 22), leaf({4, 5}, 23, -2, 1)});
  expect_gradcheck(f, {leaf_nc({3, 4}, 24), leaf_nc({3, 4}, 25, -2, 1)});
}

// d z / d logvar = g eps sigma / 2 stays accurate when mu dwarfs sigma,
// where g (z - mu) / 2 in float32 would keep almost no correct bits.
TEST(FusedGaussian, LogvarGradientAccurateWhenMuDwarfsSigma) {
  const Tensor mu = full({64}, 1.0e4, kF32).requires_grad_();
  const Tensor lv = full({64}, -20.0, kF32).requires_grad_();  // sigma = 4.5e-5
  const Tensor eps = test::uniform({64}, 30, 0.5, 2, DType::f32);
  sum(sample_gaussian(mu, lv, eps)).backward();
  const Tensor exact = eps.to(DType::f64) * std::exp(-10.0) * 0.5;
  expect_close(lv.grad().to(DType::f64), exact, 0, 1e-6);
}

TEST(FusedGaussian, Errors) {
  const Tensor a = zeros({2, 3}), b = zeros({3, 2});
  expect_error([&] { sample_gaussian(a, b, a); }, {"sample_gaussian", "[2,3]", "[3,2]"});
  expect_error([&] { sample_gaussian(a, a, b); }, {"sample_gaussian", "eps [3,2]"});
  expect_error([&] { sample_gaussian(a, a.to(DType::f64), a); }, {"sample_gaussian", "float64"});
}

// ---- q_sample ----------------------------------------------------------------------------

TEST(FusedQSample, MatchesTheCompositeAndDrawsRandn) {
  const std::vector<double> abar = models::Diffusion(models::BetaSchedule::linear, 1000).alpha_bars();
  const std::vector<int64_t> t = {1, 1000, 500, 17, 3};
  for (DType dt : {DType::f32, DType::f64}) {
    const Tensor x0 = test::uniform({5, 3, 4, 5}, 40, -1, 1, dt);
    Generator gen(9, 11), twin(9, 11);
    const NoisedSample s = q_sample(x0, steps_tensor(t), abar, gen);
    const Tensor eps = randn(x0.shape(), twin, TensorOptions{}.with_dtype(dt));
    EXPECT_EQ(gen.offset(), twin.offset());
    const Tensor a = per_sample(abar, t, 4, dt, [](double ab) { return std::sqrt(ab); });
    const Tensor b = per_sample(abar, t, 4, dt, [](double ab) { return std::sqrt(1 - ab); });
    const Tensor composite = a * x0 + b * eps;
    if (dt == DType::f32) {
      expect_bitwise<float>(s.eps, eps, "eps");
      expect_bitwise<float>(s.x_t, composite, "x_t");
    } else {
      expect_bitwise<double>(s.eps, eps, "eps");
      expect_bitwise<double>(s.x_t, composite, "x_t");
    }
  }
}

TEST(FusedQSample, HandComputedSample) {
  // abar_1 = 0.64, abar_2 = 0.36: coefficients (0.8, 0.6) and (0.6, 0.8).
  const std::vector<double> abar = {0.64, 0.36};
  const Tensor x0 = from_vector(std::vector<double>{1, 2, 3, 4, 5, 6}, {2, 3});
  Generator gen(3), twin(3);
  const NoisedSample s = q_sample(x0, from_vector(std::vector<double>{2, 1}, {2}), abar, gen);
  const std::vector<double> e = randn({2, 3}, twin, TensorOptions{}.with_dtype(DType::f64)).to_vector<double>();
  const std::vector<double> x = s.x_t.to_vector<double>();
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(x[size_t(i)], 0.6 * (i + 1) + 0.8 * e[size_t(i)], 1e-15);
  for (int i = 3; i < 6; ++i) EXPECT_NEAR(x[size_t(i)], 0.8 * (i + 1) + 0.6 * e[size_t(i)], 1e-15);
}

TEST(FusedQSample, Gradcheck) {
  const std::vector<double> abar = models::Diffusion(models::BetaSchedule::linear, 50).alpha_bars();
  const Tensor t = steps_tensor({3, 50, 1}, DType::f64);
  auto f = [&](const Ins& in) {
    Generator g(5);
    return q_sample(in[0], t, abar, g).x_t;
  };
  expect_gradcheck(f, {leaf({3, 2, 4}, 41)});
  expect_gradcheck(f, {leaf_nc({3, 5}, 42)});
}

TEST(FusedQSample, Errors) {
  const std::vector<double> abar = models::Diffusion(models::BetaSchedule::linear, 10).alpha_bars();
  const Tensor x0 = zeros({3, 4});
  Generator gen;
  expect_error([&] { q_sample(x0, steps_tensor({1, 2}), abar, gen); }, {"q_sample", "[2]", "[3,4]"});
  expect_error([&] { q_sample(x0, steps_tensor({1, 11, 2}), abar, gen); }, {"q_sample", "t[1] = 11", "1..10"});
  expect_error([&] { q_sample(x0, from_vector(std::vector<double>{1, 2.5, 2}, {3}), abar, gen); },
               {"q_sample", "t[1] = 2.5"});
  expect_error([&] { q_sample(x0, steps_tensor({0, 1, 1}), abar, gen); }, {"t[0] = 0"});
  expect_error([&] { q_sample(x0, steps_tensor({1, 1, 1}), std::vector<double>{}, gen); }, {"q_sample", "empty"});
}

// The training step's q_sample gathers each image's coefficients from a
// table on the device instead of building them on the host: the same bits
// and the same draws as the host overload, in both dtypes, for f64 and f32
// steps; the gradient too.
TEST(FusedQSample, TheTableOverloadHasTheHostOverloadsBits) {
  const std::vector<double> abar = models::Diffusion(models::BetaSchedule::cosine, 1000).alpha_bars();
  const std::vector<int64_t> t = {1, 1000, 500, 17, 3, 999, 2};
  for (DType dt : {DType::f32, DType::f64}) {
    const Tensor table = q_sample_table(abar, dt, Device::cpu());
    ASSERT_EQ(table.shape(), (Shape{1000, 2}));
    EXPECT_EQ(table.dtype(), dt);
    for (DType step_dt : {DType::f64, DType::f32}) {
      Tensor x0 = test::uniform({7, 2, 3, 3}, 44, -1, 1, dt).requires_grad_();
      Tensor x0_twin = x0.detach().clone().requires_grad_();
      Generator gen(9, 11), twin(9, 11);
      const NoisedSample a = q_sample(x0, steps_tensor(t, step_dt), table, gen);
      const NoisedSample b = q_sample(x0_twin, steps_tensor(t), abar, twin);
      EXPECT_EQ(gen.offset(), twin.offset());
      sum(a.x_t * a.x_t).backward();
      sum(b.x_t * b.x_t).backward();
      if (dt == DType::f32) {
        expect_bitwise<float>(a.x_t, b.x_t, "x_t");
        expect_bitwise<float>(a.eps, b.eps, "eps");
        expect_bitwise<float>(x0.grad(), x0_twin.grad(), "d x0");
      } else {
        expect_bitwise<double>(a.x_t, b.x_t, "x_t");
        expect_bitwise<double>(a.eps, b.eps, "eps");
        expect_bitwise<double>(x0.grad(), x0_twin.grad(), "d x0");
      }
    }
  }
}

// A wrong step is not read back (that would stop the host), so it cannot be
// reported; it is mapped into the table rather than read from outside it:
// NaN to 1, a step outside 1..T to the nearest end, a fraction truncated.
TEST(FusedQSample, TheTableOverloadMapsAWrongStepIntoTheTable) {
  const std::vector<double> abar = models::Diffusion(models::BetaSchedule::linear, 10).alpha_bars();
  const Tensor table = q_sample_table(abar, DType::f64, Device::cpu());
  const Tensor x0 = test::uniform({7, 3}, 45, -1, 1, DType::f64);
  const double nan = std::nan(""), inf = std::numeric_limits<double>::infinity();
  Generator g1(2), g2(2);
  const Tensor wrong = from_vector(std::vector<double>{0, -7, 11, 500, nan, -inf, 2.5}, {7});
  const Tensor out = q_sample(x0, wrong, table, g1).x_t;
  const Tensor in = q_sample(x0, steps_tensor({1, 1, 10, 10, 1, 1, 2}, DType::f64), table, g2).x_t;
  expect_bitwise<double>(out, in, "mapped steps");
}

TEST(FusedQSample, TheTableOverloadsErrors) {
  const std::vector<double> abar = models::Diffusion(models::BetaSchedule::linear, 10).alpha_bars();
  const Tensor table = q_sample_table(abar, DType::f32, Device::cpu());
  const Tensor x0 = zeros({3, 4});
  Generator gen;
  expect_error([&] { q_sample(x0, steps_tensor({1, 2}), table, gen); }, {"q_sample", "[2]", "[3,4]"});
  expect_error([&] { q_sample(x0, steps_tensor({1, 2, 3}), zeros({10, 3}), gen); }, {"q_sample", "[10,3]", "[T, 2]"});
  expect_error([&] { q_sample(x0.to(DType::f64), steps_tensor({1, 2, 3}), table, gen); }, {"q_sample", "float"});
  expect_error([&] { q_sample_table({0.5, 1.5}, DType::f32, Device::cpu()); }, {"q_sample_table", "1.5", "(0, 1]"});
  expect_error([&] { q_sample_table({}, DType::f32, Device::cpu()); }, {"q_sample_table", "empty"});
}

// ---- the reverse steps: p_sample and ddim_step ------------------------------------------

namespace {

using models::BetaSchedule;
using models::Diffusion;
using models::ReverseVariance;

struct Jump {
  int64_t t, t_prev;
};
// The full chain's steps, respaced jumps, and the last step to x0.
const Jump kJumps[] = {{1000, 999}, {500, 480}, {2, 1}, {1, 0}, {37, 0}};

// x_t wide enough that many x0_hat fall outside [-1, 1] and get clamped.
Tensor wide_x(DType dt, uint64_t seed) { return uniform({3, 2, 5, 7}, seed, -3, 3).to(dt); }

}  // namespace

// The fused steps are the sampler's main path; Diffusion's composite steps
// say what they compute. On the CPU the two must agree bit for bit: every
// schedule, both reverse variances, full and respaced jumps, with and
// without the clamp, in float32 and float64, and they draw the same noise.
TEST(FusedReverseStep, AncestralMatchesTheCompositeBitForBit) {
  for (BetaSchedule schedule : {BetaSchedule::linear, BetaSchedule::cosine})
    for (ReverseVariance variance : {ReverseVariance::beta, ReverseVariance::posterior}) {
      const Diffusion d(schedule, 1000, variance);
      for (const Jump j : kJumps)
        for (bool clip : {false, true})
          for (DType dt : {DType::f32, DType::f64}) {
            SCOPED_TRACE(testing::Message() << "t " << j.t << " -> " << j.t_prev << " clip " << clip << " "
                                            << dtype_name(dt) << " variance " << int(variance));
            const Tensor x = wide_x(dt, 70), e = uniform(x.shape(), 71, -2, 2).to(dt);
            Generator gen(5, 6), twin(5, 6);
            const Tensor fused = p_sample(x, e, d.p_sample_coefficients(j.t, j.t_prev, clip), gen);
            const Tensor z = j.t_prev > 0 ? randn(x.shape(), twin, x.options()) : Tensor();
            const Tensor composite = d.p_sample_step(x, e, j.t, j.t_prev, z, clip);
            EXPECT_EQ(gen.offset(), twin.offset());  // the last step draws nothing
            if (dt == DType::f32) expect_bitwise<float>(fused, composite, "p_sample");
            else expect_bitwise<double>(fused, composite, "p_sample");
          }
    }
}

TEST(FusedReverseStep, DdimMatchesTheCompositeBitForBit) {
  const Diffusion d(BetaSchedule::linear, 1000);
  for (const Jump j : kJumps)
    for (double eta : {0.0, 0.5, 1.0})
      for (bool clip : {false, true})
        for (DType dt : {DType::f32, DType::f64}) {
          SCOPED_TRACE(testing::Message() << "t " << j.t << " -> " << j.t_prev << " eta " << eta << " clip " << clip
                                          << " " << dtype_name(dt));
          const Tensor x = wide_x(dt, 72), e = uniform(x.shape(), 73, -2, 2).to(dt);
          Generator gen(7, 2), twin(7, 2);
          const kernels::DDIMCoefficients<double> c = d.ddim_coefficients(j.t, j.t_prev, eta, clip);
          const Tensor fused = ddim_step(x, e, c, gen);
          const Tensor z = c.sigma > 0 ? randn(x.shape(), twin, x.options()) : Tensor();
          const Tensor composite = d.ddim_step(x, e, j.t, j.t_prev, eta, z, clip);
          EXPECT_EQ(gen.offset(), twin.offset());  // eta = 0 and the last step draw nothing
          if (dt == DType::f32) expect_bitwise<float>(fused, composite, "ddim_step");
          else expect_bitwise<double>(fused, composite, "ddim_step");
        }
}

// Against the textbook formula of Ho et al.'s Algorithm 2, written out here
// and not through the coefficients:
//   x_{t-1} = (x_t - beta_t / sqrt(1 - abar_t) eps) / sqrt(alpha_t) + sigma_t z.
TEST(FusedReverseStep, AncestralIsAlgorithmTwo) {
  for (ReverseVariance variance : {ReverseVariance::beta, ReverseVariance::posterior}) {
    const Diffusion d(BetaSchedule::linear, 1000, variance);
    const std::vector<double> abar = d.alpha_bars();
    for (int64_t t : {1000, 500, 2}) {
      const Tensor x = uniform({4, 3, 7}, 50, -2, 2), e = uniform({4, 3, 7}, 51, -2, 2);
      Generator gen(1, 2), twin(1, 2);
      const Tensor out = p_sample(x, e, d.p_sample_coefficients(t, t - 1, false), gen);
      const Tensor z = randn(x.shape(), twin, x.options());
      const double ab = abar[size_t(t - 1)], ab_prev = abar[size_t(t - 2)], alpha = ab / ab_prev, beta = 1 - alpha;
      const double sigma = std::sqrt(variance == ReverseVariance::posterior ? beta * (1 - ab_prev) / (1 - ab) : beta);
      expect_close(out, (x - e * (beta / std::sqrt(1 - ab))) * (1 / std::sqrt(alpha)) + z * sigma, 1e-13, 1e-13);
    }
  }
}

// DDIM (Song et al. 2021, eq. 12) written out, for an unclamped jump.
TEST(FusedReverseStep, DdimIsEquationTwelve) {
  const Diffusion d(BetaSchedule::linear, 1000);
  const Tensor x = uniform({3, 11}, 60, -2, 2), e = uniform({3, 11}, 61, -2, 2);
  for (double eta : {0.0, 0.5, 1.0}) {
    const double ab = d.abar(701), ab_prev = d.abar(651);
    const double sigma = eta * std::sqrt((1 - ab_prev) / (1 - ab)) * std::sqrt(1 - ab / ab_prev);
    Generator gen(8), twin(8);
    const Tensor out = ddim_step(x, e, d.ddim_coefficients(701, 651, eta, false), gen);
    const Tensor x0 = (x - e * std::sqrt(1 - ab)) / std::sqrt(ab);
    Tensor expected = x0 * std::sqrt(ab_prev) + e * std::sqrt(1 - ab_prev - sigma * sigma);
    if (eta > 0) expected = expected + randn(x.shape(), twin, x.options()) * sigma;
    expect_close(out, expected, 1e-13, 1e-13);
  }
}

// DDIM with eta = 1 is DDPM's ancestral step with the posterior variance
// (Song et al. 2021, section 4.1), with the clamp too: both are then the
// posterior mean at the clamped x0_hat, plus the same noise.
TEST(FusedReverseStep, DdimAtEtaOneIsTheDdpmPosteriorStep) {
  const Diffusion d(BetaSchedule::linear, 1000, ReverseVariance::posterior);
  const Tensor x = uniform({2, 9}, 62, -3, 3), e = uniform({2, 9}, 63, -2, 2);
  for (const Jump j : {Jump{2, 1}, Jump{300, 299}, Jump{1000, 999}, Jump{600, 550}})
    for (bool clip : {false, true}) {
      Generator g1(3, 4), g2(3, 4);
      const Tensor ddpm = p_sample(x, e, d.p_sample_coefficients(j.t, j.t_prev, clip), g1);
      const Tensor ddim = ddim_step(x, e, d.ddim_coefficients(j.t, j.t_prev, 1.0, clip), g2);
      expect_close(ddim, ddpm, 1e-12, 1e-12);
    }
}

// The last step returns x0_hat itself, so with the clamp every pixel lies in
// the data range, and the clamp changed some of them.
TEST(FusedReverseStep, TheLastStepReturnsTheClampedEstimate) {
  const Diffusion d(BetaSchedule::linear, 1000);
  const Tensor x = wide_x(DType::f64, 74), e = uniform(x.shape(), 75, -2, 2);
  Generator gen;
  const Tensor out = p_sample(x, e, d.p_sample_coefficients(3, 0, true), gen);
  const Tensor x0 = d.predict_x0(x, e, 3);
  expect_close(out, clamp(x0, -1.0, 1.0), 1e-15, 1e-15);
  EXPECT_GT(max(abs(x0)).item(), 1.5);
  EXPECT_LE(max(abs(out)).item(), 1.0);
}

TEST(FusedReverseStep, Gradcheck) {
  const Diffusion d(BetaSchedule::linear, 100);
  for (bool clip : {false, true}) {
    for (const Jump j : {Jump{57, 56}, Jump{40, 20}, Jump{1, 0}}) {
      const kernels::PSampleCoefficients<double> pc = d.p_sample_coefficients(j.t, j.t_prev, clip);
      auto ancestral = [&](const Ins& in) {
        Generator g(6);
        return p_sample(in[0], in[1], pc, g);
      };
      expect_gradcheck(ancestral, {leaf({2, 3, 4}, 54, -3, 3), leaf({2, 3, 4}, 55)});
      expect_gradcheck(ancestral, {leaf_nc({3, 4}, 56, -3, 3), leaf_nc({3, 4}, 57)});
      for (double eta : {0.0, 0.7}) {
        const kernels::DDIMCoefficients<double> dc = d.ddim_coefficients(j.t, j.t_prev, eta, clip);
        auto ddim = [&](const Ins& in) {
          Generator g(2);
          return ddim_step(in[0], in[1], dc, g);
        };
        expect_gradcheck(ddim, {leaf({2, 5}, 64, -3, 3), leaf({2, 5}, 65)});
        expect_gradcheck(ddim, {leaf_nc({4, 3}, 66, -3, 3), leaf_nc({4, 3}, 67)});
      }
    }
  }
}

TEST(FusedReverseStep, Errors) {
  const Diffusion d(BetaSchedule::linear, 10);
  Generator gen;
  const kernels::PSampleCoefficients<double> pc = d.p_sample_coefficients(3, 2, true);
  expect_error([&] { p_sample(zeros({2, 3}), zeros({3, 2}), pc, gen); }, {"p_sample", "[2,3]", "[3,2]"});
  kernels::PSampleCoefficients<double> bad = pc;
  bad.sigma = -0.1;
  expect_error([&] { p_sample(zeros({2}), zeros({2}), bad, gen); }, {"p_sample", "sigma = -0.1"});
  kernels::DDIMCoefficients<double> dc = d.ddim_coefficients(3, 1, 0.5, false);
  expect_error([&] { ddim_step(zeros({2}), zeros({3}), dc, gen); }, {"ddim_step", "[2]", "[3]"});
  dc.x0_from_xt = INFINITY;
  expect_error([&] { ddim_step(zeros({2}), zeros({2}), dc, gen); }, {"ddim_step", "x0_from_xt = inf"});
  expect_error([&] { d.p_sample_coefficients(11, 10, true); }, {"11"});
  expect_error([&] { d.ddim_coefficients(3, 3, 0.0, true); }, {"3"});
  expect_error([&] { d.ddim_coefficients(3, 1, -1.0, true); }, {"eta"});
}

// ---- the schedule ------------------------------------------------------------------------

// The fused ops take the model's schedule (there is one linear schedule: Ho
// et al.'s betas, scaled by 1000 / T for other T).
TEST(FusedSchedule, TheModelsLinearSchedule) {
  const std::vector<double> abar = models::Diffusion(models::BetaSchedule::linear, 1000).alpha_bars();
  ASSERT_EQ(abar.size(), 1000u);
  // Reference: torch.cumprod(1 - torch.linspace(1e-4, 0.02, 1000, dtype=float64)),
  // entries t - 1 = 0, 499, 999.
  EXPECT_NEAR(abar[0], 0.9999, 1e-15);
  EXPECT_NEAR(abar[499], 0.07858724288177824, 1e-13);
  EXPECT_NEAR(abar[999], 4.035829765375676e-05, 1e-15);
  for (size_t t = 1; t < abar.size(); ++t) ASSERT_LT(abar[t], abar[t - 1]);
  // T = 100: betas from 1e-3 to 0.2.
  const models::Diffusion short_chain(models::BetaSchedule::linear, 100);
  const std::vector<double> a100 = short_chain.alpha_bars();
  ASSERT_EQ(a100.size(), 100u);
  EXPECT_NEAR(a100[0], 1 - 1e-3, 1e-15);
  EXPECT_NEAR(a100[99] / a100[98], 1 - 0.2, 1e-12);
  for (int64_t t = 1; t <= 100; ++t) EXPECT_EQ(a100[size_t(t - 1)], short_chain.abar(t));
}

// ---- group norm + SiLU ------------------------------------------------------------------

// The U-Net's every normalisation is silu(group_norm(x)) through the fused op,
// so it must be a drop-in: the composite's bits forward and backward, in
// both dtypes, on rows shorter and longer than one vector block of the
// exponential (2048), with and without the affine parameters.
TEST(FusedGroupNormSilu, BitIdenticalToTheComposite) {
  struct Case {
    Shape shape;
    int64_t groups;
    bool affine;
  };
  const std::vector<Case> cases = {{{2, 6, 3, 5}, 3, true},  {{3, 4}, 2, true},       {{2, 8, 7, 7}, 8, false},
                                   {{2, 4, 2500}, 1, true},  {{1, 6, 33, 65}, 2, true}, {{4, 2, 3}, 2, false}};
  for (const DType dt : {DType::f32, DType::f64})
    for (const Case& c : cases) {
      SCOPED_TRACE(shape_str(c.shape) + " G=" + std::to_string(c.groups) + (dt == DType::f32 ? " f32" : " f64"));
      const int64_t C = c.shape[1];
      // An offset mean (~1 std) and affine parameters that move y through
      // both of SiLU's regimes.
      const Tensor x = uniform(c.shape, 10, -1, 3, dt), r = uniform(c.shape, 11, -1, 1, dt);
      const Tensor w = c.affine ? uniform({C}, 12, -2, 2, dt) : Tensor();
      const Tensor b = c.affine ? uniform({C}, 13, -1, 1, dt) : Tensor();
      auto copy = [](const Tensor& t) { return t.defined() ? t.clone().requires_grad_() : Tensor(); };
      const Tensor xa = copy(x), wa = copy(w), ba = copy(b), xb = copy(x), wb = copy(w), bb = copy(b);
      const Tensor fused = group_norm_silu(xa, c.groups, wa, ba);
      const Tensor composite = silu(group_norm(xb, c.groups, wb, bb));
      sum(fused * r).backward();
      sum(composite * r).backward();
      auto same = [&](const Tensor& p, const Tensor& q, const char* what) {
        if (dt == DType::f32)
          expect_bitwise<float>(p, q, what);
        else
          expect_bitwise<double>(p, q, what);
      };
      same(fused, composite, "z");
      same(xa.grad(), xb.grad(), "d x");
      if (c.affine) {
        same(wa.grad(), wb.grad(), "d weight");
        same(ba.grad(), bb.grad(), "d bias");
      }
    }
}

TEST(FusedGroupNormSilu, Gradcheck) {
  auto op = [](int64_t groups) {
    return [groups](const Ins& in) { return group_norm_silu(in[0], groups, in[1], in[2]); };
  };
  for (int64_t groups : {1, 2, 4}) {
    SCOPED_TRACE(groups);
    expect_gradcheck(op(groups), {leaf({2, 4, 3}, 20, -1, 2), leaf({4}, 21, -2, 2), leaf({4}, 22)});
  }
  expect_gradcheck(op(2), {leaf_nc({2, 4, 2, 3}, 23), leaf({4}, 24), leaf({4}, 25)});
  expect_gradcheck([](const Ins& in) { return group_norm_silu(in[0], 3, Tensor(), Tensor()); },
                   {leaf({2, 6, 2}, 26)});
}

// A graph of the backward (a gradient penalty through the U-Net) goes through
// the composite's recorded ops; its second derivatives must still be right.
TEST(FusedGroupNormSilu, SecondOrder) {
  expect_gradgradcheck([](const Ins& in) { return group_norm_silu(in[0], 2, in[1], in[2]); },
                       {leaf({2, 4, 2}, 30, -1, 2), leaf({4}, 31, -2, 2), leaf({4}, 32)});
  expect_gradgradcheck([](const Ins& in) { return group_norm_silu(in[0], 1, Tensor(), Tensor()); },
                       {leaf({2, 2, 3}, 33)});
}

TEST(FusedGroupNormSilu, ErrorsNameTheOpAndTheShapes) {
  const Tensor x = uniform({2, 6, 3}, 40);
  expect_error([&] { group_norm_silu(x, 4, Tensor(), Tensor()); },
               {"group_norm_silu", "6 channels", "[2,6,3]", "4 groups"});
  expect_error([&] { group_norm_silu(x, 3, uniform({5}, 41), Tensor()); }, {"group_norm_silu", "weight", "[5]", "[6]"});
  expect_error([&] { group_norm_silu(uniform({6}, 42), 1, Tensor(), Tensor()); }, {"group_norm_silu", "[6]"});
}

// The CPU kernels' SiLU epilogue and its gradient on every norm layout the
// kernels take (group norm's rows, and batch norm's by columns (S < 8) and by
// rows), against the plain kernel followed by the composite's SiLU ops.
TEST(FusedGroupNormSilu, TheKernelsEpilogueOnEveryLayout) {
  using kernels::NormLayout;
  const std::vector<NormLayout> layouts = {{3, 6, 5, 3, true}, {4, 5, 1, 5, false}, {4, 5, 3, 5, false},
                                           {2, 4, 10, 4, false}};
  for (const NormLayout& l : layouts) {
    SCOPED_TRACE("[N,C,S] = [" + std::to_string(l.N) + "," + std::to_string(l.C) + "," + std::to_string(l.S) +
                 "] G=" + std::to_string(l.G) + (l.per_sample ? " per sample" : " over the batch"));
    const Shape shape = {l.N, l.C, l.S}, stats = {l.num_stats()};
    const Tensor x = uniform(shape, 50, -1, 3, DType::f32), gz = uniform(shape, 51, -1, 1, DType::f32);
    const Tensor w = uniform({l.C}, 52, -2, 2, DType::f32), b = uniform({l.C}, 53, -1, 1, DType::f32);
    const Tensor y = empty(shape, x.options()), z = empty(shape, x.options()), gy = empty(shape, x.options());
    const Tensor mean = empty(stats, x.options()), rstd = empty(stats, x.options());
    const Tensor mean2 = empty(stats, x.options()), rstd2 = empty(stats, x.options());
    cpu::norm_forward(l, x, w, b, 1e-5, y, mean, rstd, Tensor());
    cpu::norm_forward(l, x, w, b, 1e-5, z, mean2, rstd2, Tensor(), kernels::NormEpilogue::silu);
    expect_bitwise<float>(z, silu(y), "z");
    expect_bitwise<float>(mean2, mean, "mean");
    cpu::norm_silu_grad(l, gz, x, w, b, mean, rstd, gy);
    expect_bitwise<float>(gy, silu_backward(gz, y), "gy");
  }
}
