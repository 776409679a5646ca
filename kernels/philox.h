// Philox4x32-10, the counter-based random number generator of Salmon, Moraes,
// Dror and Shaw, "Parallel random numbers: as easy as 1, 2, 3" (SC'11), and
// the conversions from its 32-bit words to the numbers the engine draws.
//
// A counter-based generator is a keyed bijection: block = philox(counter, key).
// There is no state to carry from one number to the next, so any thread can
// compute any number directly, and the CPU and the GPU (which both include
// this header) produce the same bits.
//
// Counter layout used by the engine, for a draw that starts at generator
// block offset `o` with seed `s` (Generator in engine/ops/random.h):
//   key     = (lo32(s), hi32(s))
//   block b = philox((lo32(o + b), hi32(o + b), 0, 0), key), four words w0..w3
//   uniforms: element i is word i % 4 of block i / 4;
//   normals:  block i / 4 gives two Box-Muller pairs, (w0, w1) and (w2, w3),
//             so element i is pair (i % 4) / 2 of that block, the cosine
//             branch for even i and the sine branch for odd i.
// A draw of n numbers uses ceil(n / 4) blocks (Generator::take).
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/hd.h"

namespace ng::kernels {

struct PhiloxWords {  // a counter or an output block: four 32-bit words
  uint32_t w[4];
};
struct PhiloxKey {
  uint32_t k[2];
};

// Round multipliers and Weyl key increments (the golden ratio and sqrt(3) - 1
// as 32-bit fractions), as published.
constexpr uint32_t kPhiloxM0 = 0xD2511F53u;
constexpr uint32_t kPhiloxM1 = 0xCD9E8D57u;
constexpr uint32_t kPhiloxW0 = 0x9E3779B9u;
constexpr uint32_t kPhiloxW1 = 0xBB67AE85u;

// One round: two 32x32 -> 64-bit multiplies, whose high halves are mixed
// with the other words and the key, and whose low halves move over.
NG_HD PhiloxWords philox_round(PhiloxWords c, PhiloxKey key) {
  const uint64_t p0 = uint64_t(kPhiloxM0) * c.w[0];
  const uint64_t p1 = uint64_t(kPhiloxM1) * c.w[2];
  PhiloxWords r;
  r.w[0] = uint32_t(p1 >> 32) ^ c.w[1] ^ key.k[0];
  r.w[1] = uint32_t(p1);
  r.w[2] = uint32_t(p0 >> 32) ^ c.w[3] ^ key.k[1];
  r.w[3] = uint32_t(p0);
  return r;
}

// Ten rounds, the key bumped by the Weyl increments between rounds.
NG_HD PhiloxWords philox4x32_10(PhiloxWords counter, PhiloxKey key) {
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      key.k[0] += kPhiloxW0;
      key.k[1] += kPhiloxW1;
    }
    counter = philox_round(counter, key);
  }
  return counter;
}

// Block `block` of the stream keyed by `seed` (the layout above).
NG_HD PhiloxWords philox_block(uint64_t seed, uint64_t block) {
  const PhiloxWords counter{{uint32_t(block), uint32_t(block >> 32), 0u, 0u}};
  const PhiloxKey key{{uint32_t(seed), uint32_t(seed >> 32)}};
  return philox4x32_10(counter, key);
}

// ---- word -> number ------------------------------------------------------------

// Uniform float in the open interval (0, 1): the midpoint of one of 2^23
// equal cells, ((x >> 9) + 0.5) * 2^-23, in [2^-24, 1 - 2^-24].
// 23 bits, not 24: (k + 0.5) * 2^-24 for k >= 2^23 needs 25 significant bits,
// so in float32 it rounds (ties to even) and k = 2^24 - 1 would give exactly 1.
// With 23 bits every value is exact, u(~x) = 1 - u(x), and the mean is 1/2.
NG_HD float uniform_float(uint32_t x) {
  return (float(x >> 9) + 0.5f) * 1.1920928955078125e-7f;  // 2^-23
}

// Uniform double in (0, 1): (x + 0.5) * 2^-32, exact, in [2^-33, 1 - 2^-33].
NG_HD double uniform_double(uint32_t x) {
  return (double(x) + 0.5) * 2.3283064365386962890625e-10;  // 2^-32
}

template <class T>
NG_HD T uniform_from_word(uint32_t x) {
  if constexpr (sizeof(T) == 4) return uniform_float(x);
  else return uniform_double(x);
}

// Box-Muller in double whatever the output dtype, rounded once at the end:
// float32 and float64 normals from the same words then agree to float32
// rounding, and the GPU (whose double log/sqrt/cos/sin are within an ulp or
// two) agrees with the CPU to the last float32 ulp except in the rare case of
// a double result lying within a couple of double ulps of a float32 tie.
struct NormalPair {
  double z0, z1;
};
NG_HD NormalPair box_muller(uint32_t a, uint32_t b) {
  using std::cos;
  using std::log;
  using std::sin;
  using std::sqrt;
  const double kTwoPi = 6.283185307179586476925286766559;
  const double r = sqrt(-2.0 * log(uniform_double(a)));  // u1 > 0, so r is finite
  const double theta = kTwoPi * uniform_double(b);
  return {r * cos(theta), r * sin(theta)};
}

// The four numbers of one block, in element order (layout above). Only the
// first `count` (1..4) are written; the second pair is skipped when unused.
template <class T>
NG_HD void uniform4(const PhiloxWords& block, T* out, int count) {
  for (int k = 0; k < count; ++k) out[k] = uniform_from_word<T>(block.w[k]);
}

template <class T>
NG_HD void normal4(const PhiloxWords& block, T* out, int count) {
  const NormalPair p = box_muller(block.w[0], block.w[1]);
  out[0] = T(p.z0);
  if (count > 1) out[1] = T(p.z1);
  if (count > 2) {
    const NormalPair q = box_muller(block.w[2], block.w[3]);
    out[2] = T(q.z0);
    if (count > 3) out[3] = T(q.z1);
  }
}

}  // namespace ng::kernels
