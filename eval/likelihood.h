// Likelihoods in the unit everyone quotes: bits per dimension of 8-bit data.
#pragma once

#include <cstdint>

namespace ng::eval {

// -log p(x) in nats per image -> bits per dimension: nats / (D ln 2).
double nats_to_bits_per_dim(double nats_per_image, int64_t dims);
double bits_per_dim_to_nats(double bits_per_dim, int64_t dims);

// A density on [0,1]^D (or [-1,1]^D) is not a probability of 8-bit data:
// the probability of the bin of width w around a level is the integral of the
// density over the bin, which is density * w per dimension where the density
// is flat across the bin (and only about that elsewhere). So the discrete
// bits/dim are about those of the density plus log2(1/w). Evaluated at
// uniformly dequantised data (x + u, u uniform over the bin), Jensen's
// inequality makes the sum an upper bound on the discrete bits/dim (Theis et
// al. 2016). The bin width belongs to the scale of the data: w = 1/255 on
// [0,1] adds log2(255) = 8 - log2(256/255) bits; w = 2/255 on [-1,1] adds
// one bit less, log2(127.5), because a density there is half as high.
// bin_width must be positive.
double density_bits_per_dim_to_discrete(double density_bits_per_dim, double bin_width);

}  // namespace ng::eval
