// Bits/dim conversions (eval/likelihood.h), against numbers worked out by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "eval/likelihood.h"
#include "support/gradcheck.h"

using namespace ng;
using namespace ng::eval;

TEST(Likelihood, NatsPerImageToBitsPerDim) {
  // 784 dims at 1000 nats an image: 1000 / (784 ln 2) = 1000 / 543.427 = 1.840172 bits/dim.
  EXPECT_NEAR(nats_to_bits_per_dim(1000.0, 784), 1000.0 / (784.0 * 0.6931471805599453), 1e-12);
  EXPECT_NEAR(nats_to_bits_per_dim(1000.0, 784), 1.840172, 1e-6);
  // And back.
  EXPECT_NEAR(bits_per_dim_to_nats(nats_to_bits_per_dim(1234.5, 784), 784), 1234.5, 1e-9);
  // 1 bit/dim over 3072 dims is 3072 ln 2 nats.
  EXPECT_NEAR(bits_per_dim_to_nats(1.0, 3072), 3072.0 * std::numbers::ln2, 1e-9);
}

TEST(Likelihood, UniformOver256LevelsIsEightBitsPerDim) {
  // -log p(x) = D ln 256 nats for every image.
  for (int64_t dims : {1, 784, 3072}) EXPECT_DOUBLE_EQ(nats_to_bits_per_dim(double(dims) * std::log(256.0), dims), 8.0);
}

TEST(Likelihood, DensityToDiscreteAddsLog2OfOneOverTheBinWidth) {
  // The uniform density on [0,1] (density 1: 0 bits/dim) gives each interior
  // level of the grid k/255 the probability 1/255 of its bin: log2(255) bits.
  EXPECT_NEAR(density_bits_per_dim_to_discrete(0.0, 1.0 / 255.0), std::log2(255.0), 1e-12);
  EXPECT_NEAR(std::log2(255.0), 8.0 - std::log2(256.0 / 255.0), 1e-12);
  EXPECT_NEAR(std::log2(255.0), 7.994353, 1e-6);
  // The same data on [-1,1]: the uniform density is 1/2 (1 bit/dim), the
  // bins 2/255 wide: 1 + log2(127.5) = log2(255) again, the same probability.
  EXPECT_NEAR(density_bits_per_dim_to_discrete(1.0, 2.0 / 255.0), std::log2(255.0), 1e-12);
  // Bins of 1/256 (the dequantisation convention of flows): the uniform
  // density becomes the uniform distribution over 256 levels, 8 bits.
  EXPECT_DOUBLE_EQ(density_bits_per_dim_to_discrete(0.0, 1.0 / 256.0), 8.0);
  // A density of 4 on every bin (-2 bits/dim) with w = 1/255: 4/255 a level.
  EXPECT_NEAR(density_bits_per_dim_to_discrete(-2.0, 1.0 / 255.0), -std::log2(4.0 / 255.0), 1e-12);
}

TEST(Likelihood, BadArgumentsAreClearErrors) {
  test::expect_error([] { nats_to_bits_per_dim(1.0, 0); }, {"nats_to_bits_per_dim", "dims", "0"});
  test::expect_error([] { bits_per_dim_to_nats(1.0, -3); }, {"bits_per_dim_to_nats", "-3"});
  test::expect_error([] { density_bits_per_dim_to_discrete(1.0, 0.0); },
                     {"density_bits_per_dim_to_discrete", "bin_width"});
  test::expect_error([] { density_bits_per_dim_to_discrete(1.0, -0.5); }, {"bin_width", "-0.5"});
}
