// Likelihoods in the unit everyone quotes: bits per dimension of 8-bit data.
#pragma once

#include <cstdint>

namespace ng::eval {

// -log p(x) in nats per image -> bits per dimension: nats / (D ln 2).
double nats_to_bits_per_dim(double nats_per_image, int64_t dims);
double bits_per_dim_to_nats(double bits_per_dim, int64_t dims);

// A density on [0,1]^D (or [-1,1]^D) is not a probability of 8-bit data: the
// discrete probability of the bin of width w around a level is at most
// density * w. Its bits/dim are those of the density plus log2(1/w) per
// dimension (w = 1/255 on [0,1] (or 2/255 on [-1,1]): 8 bits minus log2(256/255)).
double density_bits_per_dim_to_discrete(double density_bits_per_dim, double bin_width);

}  // namespace ng::eval
