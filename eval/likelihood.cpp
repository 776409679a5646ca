#include "eval/likelihood.h"

#include <cmath>
#include <numbers>

#include "engine/error.h"

namespace ng::eval {

double nats_to_bits_per_dim(double nats_per_image, int64_t dims) {
  NG_CHECK(dims > 0, "nats_to_bits_per_dim: dims must be positive, got ", dims);
  return nats_per_image / (double(dims) * std::numbers::ln2);
}

double bits_per_dim_to_nats(double bits_per_dim, int64_t dims) {
  NG_CHECK(dims > 0, "bits_per_dim_to_nats: dims must be positive, got ", dims);
  return bits_per_dim * double(dims) * std::numbers::ln2;
}

double density_bits_per_dim_to_discrete(double density_bits_per_dim, double bin_width) {
  NG_CHECK(bin_width > 0 && std::isfinite(bin_width),
           "density_bits_per_dim_to_discrete: bin_width must be positive and finite, got ", bin_width);
  // -log2(density * w) = -log2(density) + log2(1/w).
  return density_bits_per_dim - std::log2(bin_width);
}

}  // namespace ng::eval
