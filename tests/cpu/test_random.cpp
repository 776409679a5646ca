// Philox4x32-10 and the random ops built on it: known-answer vectors, the
// counter layout, determinism and offset bookkeeping, distribution statistics,
// bernoulli and dropout (values, gradients, errors).
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <numeric>

#include "engine/nanogen.h"
#include "kernels/philox.h"
#include "support/gradcheck.h"

using namespace ng;
using kernels::PhiloxKey;
using kernels::PhiloxWords;
using Ins = std::vector<Tensor>;

static const TensorOptions kF32 = TensorOptions{}.with_dtype(DType::f32);
static const TensorOptions kF64 = TensorOptions{}.with_dtype(DType::f64);

// ---- the cipher --------------------------------------------------------------------

// Known answers for Philox4x32-10 from the Random123 distribution's
// tests/kat_vectors (rows "philox4x32 10 <counter[4]> <key[2]> <result[4]>"),
// as reproduced by D. E. Shaw Research in Random123-Boost,
// libs/random/test/test_philox.cpp.
TEST(Philox, KnownAnswerVectors) {
  struct Kat {
    PhiloxWords counter;
    PhiloxKey key;
    PhiloxWords expected;
  };
  const Kat kats[] = {
      {{{0x00000000, 0x00000000, 0x00000000, 0x00000000}}, {{0x00000000, 0x00000000}},
       {{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}}},
      {{{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}}, {{0xffffffff, 0xffffffff}},
       {{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}}},
      {{{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}}, {{0xa4093822, 0x299f31d0}},
       {{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}}},
  };
  for (const Kat& kat : kats) {
    const PhiloxWords got = kernels::philox4x32_10(kat.counter, kat.key);
    for (int k = 0; k < 4; ++k)
      EXPECT_EQ(got.w[k], kat.expected.w[k]) << "word " << k << " for counter " << std::hex << kat.counter.w[0];
  }
}

// Seed 0, offset 0 is the all-zero counter and key: the first KAT vector,
// seen through rand's float64 conversion (x + 0.5) * 2^-32.
TEST(Philox, RandOfSeedZeroIsTheFirstKnownAnswer) {
  Generator gen(0, 0);
  const std::vector<double> u = rand({4}, gen, kF64).to_vector<double>();
  const uint32_t words[4] = {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8};
  for (int k = 0; k < 4; ++k) EXPECT_EQ(u[size_t(k)], (double(words[k]) + 0.5) / 4294967296.0);
}

// Element i of a draw from (seed, offset) is word i % 4 of the block with
// counter (lo32(offset + i/4), hi32(offset + i/4), 0, 0) and key (lo32(seed),
// hi32(seed)); checked with a seed and an offset that use both halves, across
// the 2^32 carry of the counter's low word.
TEST(Philox, CounterLayout) {
  const uint64_t seed = 0x0123456789abcdefull, offset = 0xfffffffeull;  // blocks ...fe, ...ff, 1_00000000
  const PhiloxKey key{{0x89abcdefu, 0x01234567u}};
  const PhiloxWords counters[3] = {{{0xfffffffeu, 0, 0, 0}}, {{0xffffffffu, 0, 0, 0}}, {{0, 1u, 0, 0}}};
  Generator g64(seed, offset), g32(seed, offset), gn(seed, offset);
  const std::vector<double> u64 = rand({11}, g64, kF64).to_vector<double>();
  const std::vector<float> u32 = rand({11}, g32, kF32).to_vector<float>();
  const std::vector<double> z = randn({11}, gn, kF64).to_vector<double>();
  for (size_t i = 0; i < 11; ++i) {
    const PhiloxWords w = kernels::philox4x32_10(counters[i / 4], key);
    EXPECT_EQ(u64[i], (double(w.w[i % 4]) + 0.5) / 4294967296.0) << "element " << i;
    EXPECT_EQ(u32[i], float((double(w.w[i % 4] >> 9) + 0.5) / 8388608.0)) << "element " << i;
    // Box-Muller over the block's pairs (w0, w1) and (w2, w3): cos for even i, sin for odd.
    const size_t pair = (i % 4) / 2;
    const double u1 = (double(w.w[2 * pair]) + 0.5) / 4294967296.0;
    const double u2 = (double(w.w[2 * pair + 1]) + 0.5) / 4294967296.0;
    const double r = std::sqrt(-2.0 * std::log(u1)), theta = 2.0 * std::numbers::pi * u2;
    EXPECT_NEAR(z[i], i % 2 == 0 ? r * std::cos(theta) : r * std::sin(theta), 1e-14) << "element " << i;
  }
  EXPECT_EQ(g64.offset(), offset + 3);
}

// ---- word -> number conversions ----------------------------------------------------

TEST(Philox, UniformIsNeverZeroOrOne) {
  EXPECT_EQ(kernels::uniform_float(0u), std::ldexp(1.0f, -24));
  EXPECT_EQ(kernels::uniform_float(0xffffffffu), 1.0f - std::ldexp(1.0f, -24));
  EXPECT_EQ(kernels::uniform_double(0u), std::ldexp(1.0, -33));
  EXPECT_EQ(kernels::uniform_double(0xffffffffu), 1.0 - std::ldexp(1.0, -33));
  EXPECT_LT(kernels::uniform_float(0xffffffffu), 1.0f);
  EXPECT_GT(kernels::uniform_float(0u), 0.0f);
  // Every 23-bit cell maps to its exact midpoint, so the conversion is
  // symmetric: u(~x) = 1 - u(x). Checked over a sweep of words.
  for (uint64_t x = 0; x <= 0xffffffffull; x += 0x10001ull * 97) {
    const uint32_t w = uint32_t(x);
    EXPECT_EQ(kernels::uniform_float(w) + kernels::uniform_float(~w), 1.0f) << std::hex << w;
    EXPECT_EQ(kernels::uniform_double(w) + kernels::uniform_double(~w), 1.0) << std::hex << w;
  }
  // The extreme words give finite normals (no log(0)).
  for (uint32_t a : {0u, 0xffffffffu})
    for (uint32_t b : {0u, 0x80000000u, 0xffffffffu}) {
      const kernels::NormalPair p = kernels::box_muller(a, b);
      EXPECT_TRUE(std::isfinite(p.z0) && std::isfinite(p.z1)) << a << " " << b;
    }
  EXPECT_NEAR(kernels::box_muller(0u, 0u).z0, std::sqrt(66.0 * std::log(2.0)), 1e-12);  // -2 log 2^-33
}

// float32 and float64 normals from the same generator state are the same
// double Box-Muller value rounded to each dtype.
TEST(Random, NormalFloat32IsFloat64Rounded) {
  Generator g32(99, 12), g64(99, 12);
  const std::vector<float> z32 = randn({1003}, g32, kF32).to_vector<float>();
  const std::vector<double> z64 = randn({1003}, g64, kF64).to_vector<double>();
  for (size_t i = 0; i < z32.size(); ++i) ASSERT_EQ(z32[i], float(z64[i])) << "element " << i;
  EXPECT_EQ(g32.offset(), g64.offset());
}

// float32 uniforms keep the top 23 bits of the word that float64 uniforms
// use all 32 bits of: they differ by at most half a float32 cell.
TEST(Random, UniformFloat32AndFloat64ShareWords) {
  Generator g32(5, 0), g64(5, 0);
  const std::vector<float> u32 = rand({1001}, g32, kF32).to_vector<float>();
  const std::vector<double> u64 = rand({1001}, g64, kF64).to_vector<double>();
  for (size_t i = 0; i < u32.size(); ++i) ASSERT_LE(std::fabs(double(u32[i]) - u64[i]), std::ldexp(1.0, -24));
}

// ---- determinism and the offset bookkeeping -----------------------------------------

TEST(Random, SameStateSameNumbers) {
  for (DType dt : {DType::f32, DType::f64}) {
    Generator a(42, 7), b(42, 7), c(42, 8), d(43, 7);
    const TensorOptions o = TensorOptions{}.with_dtype(dt);
    const std::vector<double> x = rand({5, 7}, a, o).to_vector<double>();
    EXPECT_EQ(x, rand({5, 7}, b, o).to_vector<double>());
    const std::vector<double> y = rand({5, 7}, c, o).to_vector<double>();  // next offset
    const std::vector<double> z = rand({5, 7}, d, o).to_vector<double>();  // next seed
    for (size_t i = 0; i < x.size(); ++i) {
      EXPECT_NE(x[i], y[i]) << i;
      EXPECT_NE(x[i], z[i]) << i;
    }
    // Offsets 7 and 8 overlap: the draw at 8 is the draw at 7 shifted by a block.
    for (size_t i = 0; i + 4 < x.size(); ++i) EXPECT_EQ(x[i + 4], y[i]);
  }
}

TEST(Random, OffsetAdvancesByBlocksOfFour) {
  Generator g(7, 0);
  const Tensor first = rand({10}, g, kF64);  // blocks 0, 1, 2 (two words of block 2 unused)
  EXPECT_EQ(g.offset(), 3u);
  const Tensor second = rand({2, 3}, g, kF64);  // blocks 3, 4
  EXPECT_EQ(g.offset(), 5u);
  Generator whole(7, 0);
  const std::vector<double> all = rand({18}, whole, kF64).to_vector<double>();
  const std::vector<double> a = first.to_vector<double>(), b = second.to_vector<double>();
  EXPECT_EQ(a, std::vector<double>(all.begin(), all.begin() + 10));
  EXPECT_EQ(b, std::vector<double>(all.begin() + 12, all.end()));

  // The same for normals, whose blocks hold two pairs.
  Generator gn(7, 0), wn(7, 0);
  randn({10}, gn, kF32);
  const std::vector<float> tail = randn({6}, gn, kF32).to_vector<float>();
  const std::vector<float> alln = randn({18}, wn, kF32).to_vector<float>();
  EXPECT_EQ(tail, std::vector<float>(alln.begin() + 12, alln.end()));

  // Empty draws take no block; a 0-d draw takes one.
  EXPECT_EQ(rand({0, 3}, g).numel(), 0);
  EXPECT_EQ(g.offset(), 5u);
  rand({}, g);
  EXPECT_EQ(g.offset(), 6u);
}

TEST(Random, DefaultGeneratorAndManualSeed) {
  manual_seed(1234);
  EXPECT_EQ(default_generator().seed(), 1234u);
  EXPECT_EQ(default_generator().offset(), 0u);
  const std::vector<float> x = rand({6}).to_vector<float>();
  const std::vector<float> z = randn({3}).to_vector<float>();
  EXPECT_EQ(default_generator().offset(), 3u);
  Generator g(1234, 0);
  EXPECT_EQ(x, rand({6}, g).to_vector<float>());
  EXPECT_EQ(z, randn({3}, g).to_vector<float>());
  manual_seed(1234);
  EXPECT_EQ(x, rand({6}).to_vector<float>());
}

// The result does not depend on how many threads fill it.
TEST(Random, IndependentOfThreadCount) {
  const int threads = omp_get_max_threads();
  Generator g1(3, 0), g2(3, 0);
  omp_set_num_threads(1);
  const std::vector<float> one = randn({300001}, g1, kF32).to_vector<float>();
  omp_set_num_threads(std::max(2, threads));
  const std::vector<float> many = randn({300001}, g2, kF32).to_vector<float>();
  omp_set_num_threads(threads);
  EXPECT_TRUE(one == many);
}

TEST(Random, RequiresGradOptionAndDtype) {
  Generator g(1, 0);
  const Tensor x = randn({2, 3}, g, kF64.with_requires_grad());
  EXPECT_TRUE(x.requires_grad());
  EXPECT_TRUE(x.is_leaf());
  EXPECT_EQ(x.dtype(), DType::f64);
  EXPECT_EQ(x.shape(), (Shape{2, 3}));
  EXPECT_FALSE(rand({2}, g).requires_grad());
  EXPECT_EQ(rand({2}, g).dtype(), DType::f32);
}

// ---- statistics ----------------------------------------------------------------------
// n = 10^6 draws from fixed seeds; moments within 5 standard errors, and the
// Kolmogorov-Smirnov distance below its 0.1% critical value 1.95 / sqrt(n).

static double mean_of(const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0) / double(v.size()); }

static double variance_of(const std::vector<double>& v) {
  const double m = mean_of(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return s / double(v.size() - 1);
}

// sup |F_n(x) - F(x)| for the empirical distribution of v.
template <class Cdf>
static double ks_distance(std::vector<double> v, Cdf cdf) {
  std::sort(v.begin(), v.end());
  const double n = double(v.size());
  double d = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    const double f = cdf(v[i]);
    d = std::max({d, double(i + 1) / n - f, f - double(i) / n});
  }
  return d;
}

constexpr int64_t kN = 1000000;
const double kKsCritical = 1.95 / std::sqrt(double(kN));  // alpha = 0.001

TEST(RandomStats, Uniform) {
  for (DType dt : {DType::f32, DType::f64}) {
    Generator g(2024, 0);
    const std::vector<double> u = rand({kN}, g, TensorOptions{}.with_dtype(dt)).to_vector<double>();
    const double n = double(kN);
    EXPECT_NEAR(mean_of(u), 0.5, 5 * std::sqrt(1.0 / 12 / n));
    // Var(sample variance) ~ (mu4 - sigma^4) / n with mu4 = 1/80, sigma^2 = 1/12.
    EXPECT_NEAR(variance_of(u), 1.0 / 12, 5 * std::sqrt((1.0 / 80 - 1.0 / 144) / n));
    EXPECT_LT(ks_distance(u, [](double x) { return x; }), kKsCritical);
    EXPECT_GT(*std::min_element(u.begin(), u.end()), 0.0);
    EXPECT_LT(*std::max_element(u.begin(), u.end()), 1.0);
  }
}

TEST(RandomStats, Normal) {
  for (DType dt : {DType::f32, DType::f64}) {
    Generator g(77, 5);
    const std::vector<double> z = randn({kN}, g, TensorOptions{}.with_dtype(dt)).to_vector<double>();
    const double n = double(kN);
    EXPECT_NEAR(mean_of(z), 0.0, 5 / std::sqrt(n));
    EXPECT_NEAR(variance_of(z), 1.0, 5 * std::sqrt(2.0 / n));  // mu4 - sigma^4 = 2
    const double ks = ks_distance(z, [](double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); });
    EXPECT_LT(ks, kKsCritical);
    // The cos and sin halves of a pair are independent: their correlation is
    // within 5 standard errors (1 / sqrt(pairs)) of 0.
    double c = 0;
    for (size_t i = 0; i + 1 < z.size(); i += 2) c += z[i] * z[i + 1];
    EXPECT_NEAR(c / (n / 2), 0.0, 5 / std::sqrt(n / 2));
  }
}

TEST(RandomStats, BernoulliFraction) {
  Generator g(31, 0);
  const double p = 0.3;
  const std::vector<double> b = bernoulli(full({kN}, p, kF64), g).to_vector<double>();
  double ones = 0;
  for (double x : b) {
    ASSERT_TRUE(x == 0.0 || x == 1.0);
    ones += x;
  }
  EXPECT_NEAR(ones / double(kN), p, 5 * std::sqrt(p * (1 - p) / double(kN)));
}

// ---- bernoulli ------------------------------------------------------------------------

// bernoulli(p) is 1 exactly where the uniforms from the same state are below p,
// for any layout of p.
TEST(Random, BernoulliIsUniformBelowP) {
  for (DType dt : {DType::f32, DType::f64}) {
    const Tensor p = test::non_contiguous(test::uniform({5, 7}, 8, 0.0, 1.0, dt));
    Generator gb(11, 2), gu(11, 2);
    const std::vector<double> b = bernoulli(p, gb).to_vector<double>();
    const std::vector<double> u = rand({5, 7}, gu, TensorOptions{}.with_dtype(dt)).to_vector<double>();
    const std::vector<double> pv = p.to_vector<double>();
    for (size_t i = 0; i < b.size(); ++i) EXPECT_EQ(b[i], u[i] < pv[i] ? 1.0 : 0.0) << "element " << i;
    EXPECT_EQ(gb.offset(), gu.offset());
  }
  Generator g(1, 0);
  EXPECT_EQ(sum(bernoulli(zeros({1000}), g)).item(), 0.0);
  EXPECT_EQ(sum(bernoulli(ones({1000}), g)).item(), 1000.0);
  EXPECT_EQ(bernoulli(ones({3}, kF64), g).dtype(), DType::f64);
}

TEST(Random, BernoulliRejectsProbabilitiesOutsideUnitInterval) {
  Generator g(1, 0);
  for (double bad : {-0.1, 1.5, std::nan("")}) {
    Tensor p = full({2, 3}, 0.5);
    p.narrow(1, 1, 1).fill_(bad);
    try {
      bernoulli(p, g);
      ADD_FAILURE() << "no error for p = " << bad;
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("bernoulli"), std::string::npos) << msg;
      EXPECT_NE(msg.find("[2,3]"), std::string::npos) << msg;
      EXPECT_NE(msg.find("[0, 1]"), std::string::npos) << msg;
    }
  }
}

// ---- dropout ------------------------------------------------------------------------

TEST(Dropout, ZeroesAFractionPAndScalesSurvivors) {
  for (DType dt : {DType::f32, DType::f64}) {
    const double p = 0.25;
    const TensorOptions o = TensorOptions{}.with_dtype(dt);
    const Tensor x = test::uniform({1000, 200}, 3, 0.5, 2.0, dt);  // never 0, so zeros are drops
    Generator g(9, 4), gu(9, 4);
    const std::vector<double> y = dropout(x, p, true, g).to_vector<double>();
    const std::vector<double> u = rand({1000, 200}, gu, o).to_vector<double>();
    const std::vector<double> xv = x.to_vector<double>();
    EXPECT_EQ(g.offset(), gu.offset());
    double dropped = 0;
    for (size_t i = 0; i < y.size(); ++i) {
      const bool drop = u[i] < (dt == DType::f32 ? double(float(p)) : p);
      ASSERT_EQ(y[i] == 0.0, drop) << "element " << i;
      if (!drop) {
        ASSERT_NEAR(y[i], xv[i] / (1 - p), 4e-7 * std::fabs(y[i])) << "element " << i;
      }
      dropped += drop;
    }
    const double n = double(y.size());
    EXPECT_NEAR(dropped / n, p, 5 * std::sqrt(p * (1 - p) / n));
  }
}

// In evaluation, or with p = 0, dropout is the identity: x itself, no draw.
TEST(Dropout, IdentityInEvalAndForPZero) {
  const Tensor x = test::uniform({4, 5}, 1).requires_grad_();
  Generator g(1, 10);
  for (auto [p, training] : {std::pair{0.5, false}, std::pair{0.0, true}, std::pair{0.0, false}}) {
    const Tensor y = dropout(x, p, training, g);
    EXPECT_EQ(y.impl(), x.impl()) << "p = " << p << " training = " << training;
    EXPECT_EQ(g.offset(), 10u);
  }
}

TEST(Dropout, Gradient) {
  // The generator is rebuilt at every evaluation, so each one draws the same mask.
  for (double p : {0.1, 0.5}) {
    auto f = [p](const Ins& in) {
      Generator g(42, 3);
      return dropout(in[0], p, true, g);
    };
    test::expect_gradcheck(f, {test::uniform({3, 4, 5}, 21).requires_grad_()});
    test::expect_gradcheck(f, {test::non_contiguous(test::uniform({6, 5}, 22)).requires_grad_()});
    // Dropout is linear, so the second-order check goes through a square:
    // it needs DropoutBackward to be differentiable in its incoming gradient.
    auto f2 = [p](const Ins& in) {
      Generator g(42, 3);
      return dropout(square(in[0]), p, true, g);
    };
    test::expect_gradgradcheck(f2, {test::uniform({2, 6}, 23).requires_grad_()});
  }
  // The gradient of sum(dropout(x)) is the kept mask over (1 - p).
  const Tensor x = test::uniform({50}, 24, 0.5, 2.0).requires_grad_();
  Generator g(5, 0);
  const Tensor y = dropout(x, 0.4, true, g);
  sum(y).backward();
  const std::vector<double> yv = y.to_vector<double>(), gv = x.grad().to_vector<double>();
  for (size_t i = 0; i < yv.size(); ++i) EXPECT_EQ(gv[i], yv[i] == 0.0 ? 0.0 : 1.0 / (1.0 - 0.4)) << "element " << i;
}

TEST(Dropout, RejectsPOutsideZeroToOne) {
  const Tensor x = zeros({2, 3});
  Generator g(1, 0);
  for (double bad : {1.0, -0.1, 1.5, std::nan("")}) {
    for (bool training : {true, false}) {
      try {
        dropout(x, bad, training, g);
        ADD_FAILURE() << "no error for p = " << bad;
      } catch (const Error& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("dropout"), std::string::npos) << msg;
        EXPECT_NE(msg.find("[0, 1)"), std::string::npos) << msg;
        EXPECT_NE(msg.find("[2,3]"), std::string::npos) << msg;
      }
    }
  }
  EXPECT_EQ(g.offset(), 0u);
}

// Data-parallel draws: the shards of a draw, each taken by its own
// generator, are the rows of one draw of the whole (when each shard holds a
// multiple of 4 numbers), and every generator ends where the whole draw's does.
TEST(Random, ShardedDrawsAreTheRowsOfTheWholeDraw) {
  Generator whole(42, 7);
  const std::vector<double> all = randn({6, 8}, whole, TensorOptions{}.with_dtype(DType::f64)).to_vector<double>();
  const std::vector<double> u_all = rand({6}, whole).to_vector<double>();
  for (uint64_t shard = 0; shard < 3; ++shard) {
    Generator g(42, 7);
    g.set_shard(shard, 3);
    const std::vector<double> rows = randn({2, 8}, g, TensorOptions{}.with_dtype(DType::f64)).to_vector<double>();
    EXPECT_EQ(rows, std::vector<double>(all.begin() + long(shard * 16), all.begin() + long(shard * 16 + 16)));
    // Two numbers a shard: not a multiple of 4, so the shards' blocks are
    // their own (distinct from the other shards'), not the whole draw's.
    const std::vector<double> u = rand({2}, g).to_vector<double>();
    if (shard == 0) {
      EXPECT_EQ(u, std::vector<double>(u_all.begin(), u_all.begin() + 2));
    }
    g.set_shard(0, 1);
    // Every shard's generator is where the others' are: past 3 one-block
    // parts of the two-number draws, one block more than the whole took.
    EXPECT_EQ(g.offset(), whole.offset() + 1) << "shard " << shard;
  }
}
