#include "engine/cpu/winograd.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "engine/cpu/blas.h"

namespace ng::cpu {

namespace {

// Images go through in chunks whose transformed tiles (16 planes of
// channels x tiles) stay under this many elements: wide products for BLAS,
// bounded scratch. (At [64,64,28,28]: 2^21 beat 2^19 and 2^23.)
constexpr int64_t kChunkElements = int64_t(1) << 21;

// U = G g G^T for one 3x3 filter g (row-major), G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1].
template <class T>
void filter_transform(const T* g, T u[16]) {
  T t[4][3];  // G g
  for (int j = 0; j < 3; ++j) {
    t[0][j] = g[j];
    t[1][j] = (g[j] + g[3 + j] + g[6 + j]) * T(0.5);
    t[2][j] = (g[j] - g[3 + j] + g[6 + j]) * T(0.5);
    t[3][j] = g[6 + j];
  }
  for (int i = 0; i < 4; ++i) {  // (G g) G^T
    u[i * 4 + 0] = t[i][0];
    u[i * 4 + 1] = (t[i][0] + t[i][1] + t[i][2]) * T(0.5);
    u[i * 4 + 2] = (t[i][0] - t[i][1] + t[i][2]) * T(0.5);
    u[i * 4 + 3] = t[i][2];
  }
}

template <class T>
std::unique_ptr<T[]> buffer(int64_t n) {
  return std::make_unique_for_overwrite<T[]>(size_t(std::max<int64_t>(n, 1)));
}

// V = B^T d B, B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], for every tile of
// one plane (H x W) into v (16 planes of `stride` elements, tile t of this
// plane at column `first + t`). A band of four zero-padded input rows is
// copied first, so the tile loop needs no bounds tests.
template <class T>
void input_tiles(const T* plane, int64_t H, int64_t W, T* v, int64_t stride, int64_t first) {
  const int64_t th = (H + 1) / 2, tw = (W + 1) / 2, width = 2 * tw + 2;
  std::vector<T> band(size_t(4 * width));
  for (int64_t ty = 0; ty < th; ++ty) {
    for (int i = 0; i < 4; ++i) {  // input rows 2 ty - 1 .. 2 ty + 2, columns -1 .. 2 tw
      const int64_t r = ty * 2 - 1 + i;
      T* b = band.data() + i * width;
      for (int64_t j = 0; j < width; ++j) b[j] = r >= 0 && r < H && j >= 1 && j <= W ? plane[r * W + j - 1] : T(0);
    }
    const T *b0 = band.data(), *b1 = b0 + width, *b2 = b1 + width, *b3 = b2 + width;
    for (int64_t tx = 0; tx < tw; ++tx) {
      const int64_t o = tx * 2;
      T t[4][4];  // B^T d
      for (int j = 0; j < 4; ++j) {
        t[0][j] = b0[o + j] - b2[o + j];
        t[1][j] = b1[o + j] + b2[o + j];
        t[2][j] = b2[o + j] - b1[o + j];
        t[3][j] = b1[o + j] - b3[o + j];
      }
      T* dst = v + first + ty * tw + tx;
      for (int i = 0; i < 4; ++i) {  // (B^T d) B
        dst[(i * 4 + 0) * stride] = t[i][0] - t[i][2];
        dst[(i * 4 + 1) * stride] = t[i][1] + t[i][2];
        dst[(i * 4 + 2) * stride] = t[i][2] - t[i][1];
        dst[(i * 4 + 3) * stride] = t[i][1] - t[i][3];
      }
    }
  }
}

// y = A^T m A + bias, A^T = [1 1 1 0; 0 1 -1 -1], for every tile of one output
// plane from the 16 product planes m (`stride` apart, tile t at `first + t`).
template <class T>
void output_tiles(const T* m, int64_t stride, int64_t first, T add, int64_t H, int64_t W, T* plane) {
  const int64_t tw = (W + 1) / 2, tiles = (H + 1) / 2 * tw;
  for (int64_t tile = 0; tile < tiles; ++tile) {
    const T* s = m + first + tile;
    T mm[16];
    for (int xi = 0; xi < 16; ++xi) mm[xi] = s[xi * stride];
    T t0[4], t1[4];  // A^T m
    for (int j = 0; j < 4; ++j) {
      t0[j] = mm[j] + mm[4 + j] + mm[8 + j];
      t1[j] = mm[4 + j] - mm[8 + j] - mm[12 + j];
    }
    const int64_t r = (tile / tw) * 2, c = (tile % tw) * 2;  // the block's top left, cut at the edges
    plane[r * W + c] = t0[0] + t0[1] + t0[2] + add;
    if (c + 1 < W) plane[r * W + c + 1] = t0[1] - t0[2] - t0[3] + add;
    if (r + 1 < H) {
      plane[(r + 1) * W + c] = t1[0] + t1[1] + t1[2] + add;
      if (c + 1 < W) plane[(r + 1) * W + c + 1] = t1[1] - t1[2] - t1[3] + add;
    }
  }
}

}  // namespace

template <class T>
void winograd_conv3x3(const T* x, const T* w, const T* bias, T* y, int64_t N, int64_t C, int64_t K, int64_t H,
                      int64_t W) {
  const int64_t tiles = (H + 1) / 2 * ((W + 1) / 2);
  if (N == 0 || K == 0 || tiles == 0) return;
  if (C == 0) {  // no input channels: the bias alone
    for (int64_t nk = 0; nk < N * K; ++nk) std::fill_n(y + nk * H * W, H * W, bias ? bias[nk % K] : T(0));
    return;
  }
  const auto u = buffer<T>(16 * K * C);  // U_xi is [K, C]
  for (int64_t kc = 0; kc < K * C; ++kc) {
    T t[16];
    filter_transform(w + kc * 9, t);
    for (int xi = 0; xi < 16; ++xi) u[xi * K * C + kc] = t[xi];
  }
  const int64_t chunk = std::clamp<int64_t>(kChunkElements / (16 * std::max(C, K) * tiles), 1, N);
  const auto v = buffer<T>(16 * C * chunk * tiles), m = buffer<T>(16 * K * chunk * tiles);
  for (int64_t n0 = 0; n0 < N; n0 += chunk) {
    const int64_t nb = std::min(chunk, N - n0), P = nb * tiles;  // V_xi is [C, P], column = image * tiles + tile
#pragma omp parallel for schedule(static) if (C * nb > 1 && C * P >= 4096)
    for (int64_t ic = 0; ic < nb * C; ++ic) {
      const int64_t img = ic / C, c = ic % C;
      input_tiles(x + ((n0 + img) * C + c) * H * W, H, W, v.get() + c * P, C * P, img * tiles);
    }
    blas::gemm_batched<T>({K, P, C, false, false, C, P, P}, T(0), 16, [&](int64_t xi) {
      return blas::GemmOperands<T>{u.get() + xi * K * C, v.get() + xi * C * P, m.get() + xi * K * P};
    });
#pragma omp parallel for schedule(static) if (K * nb > 1 && K * P >= 4096)
    for (int64_t ik = 0; ik < nb * K; ++ik) {
      const int64_t img = ik / K, k = ik % K;
      output_tiles(m.get() + k * P, K * P, img * tiles, bias ? bias[k] : T(0), H, W, y + ((n0 + img) * K + k) * H * W);
    }
  }
}

template void winograd_conv3x3<float>(const float*, const float*, const float*, float*, int64_t, int64_t, int64_t,
                                      int64_t, int64_t);
template void winograd_conv3x3<double>(const double*, const double*, const double*, double*, int64_t, int64_t,
                                       int64_t, int64_t, int64_t);

}  // namespace ng::cpu
