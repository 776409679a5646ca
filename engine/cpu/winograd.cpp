#include "engine/cpu/winograd.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <type_traits>
#include <vector>

#include "engine/cpu/blas.h"

namespace ng::cpu {

namespace {

// Below this many multiply-adds a forward runs on the calling thread alone.
constexpr int64_t kParallelWork = int64_t(1) << 18;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

template <class T>
std::unique_ptr<T[]> buffer(int64_t n) {
  return std::make_unique_for_overwrite<T[]>(size_t(std::max<int64_t>(n, 1)));
}

// The 2x2 output tiles of an H x W image, numbered across the whole batch:
// tile t of image n is column n * per_image + t of the transformed matrices.
struct TileGrid {
  int64_t H, W;
  int64_t across() const { return (W + 1) / 2; }
  int64_t per_image() const { return (H + 1) / 2 * across(); }
};

// Where one tile's 4x4 input window starts: its image, and the input pixel
// (row, col) at its top left (one pixel up and left of the output tile, so
// -1 on the first row or column).
struct Window {
  int64_t image, row, col;
};

// The windows of columns [first, first + count).
void windows_of(const TileGrid& g, int64_t first, int64_t count, Window* out) {
  for (int64_t j = 0; j < count; ++j) {
    const int64_t t = (first + j) % g.per_image(), image = (first + j) / g.per_image();
    out[j] = {image, (t / g.across()) * 2 - 1, (t % g.across()) * 2 - 1};
  }
}

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

// The adjoint: g = G^T u G for a 4x4 gradient u, giving the 3x3 filter's.
template <class T>
void filter_transform_adjoint(const T u[16], T* g) {
  T t[3][4];  // G^T u
  for (int j = 0; j < 4; ++j) {
    const T u0 = u[j], u1 = u[4 + j], u2 = u[8 + j], u3 = u[12 + j];
    t[0][j] = u0 + (u1 + u2) * T(0.5);
    t[1][j] = (u1 - u2) * T(0.5);
    t[2][j] = (u1 + u2) * T(0.5) + u3;
  }
  for (int i = 0; i < 3; ++i) {  // (G^T u) G
    g[i * 3 + 0] = t[i][0] + (t[i][1] + t[i][2]) * T(0.5);
    g[i * 3 + 1] = (t[i][1] - t[i][2]) * T(0.5);
    g[i * 3 + 2] = (t[i][1] + t[i][2]) * T(0.5) + t[i][3];
  }
}

// U_xi [K, C] for the 16 points xi of every filter of w [K, C, 3, 3].
template <class T>
std::unique_ptr<T[]> transformed_filters(const T* w, int64_t K, int64_t C) {
  auto u = buffer<T>(16 * K * C);
  for (int64_t kc = 0; kc < K * C; ++kc) {
    T t[16];
    filter_transform(w + kc * 9, t);
    for (int xi = 0; xi < 16; ++xi) u[xi * K * C + kc] = t[xi];
  }
  return u;
}

// ---- the transforms of one tile, or of four side by side -------------------------
//
// The arithmetic is written once for a "lane" type L: one value (T) for one
// tile, or four floats (Float4) for four tiles in a row, where each lane
// takes the same operations in the same order and so the same bits as one
// tile alone. Four tiles side by side start their windows two pixels apart,
// so their four values at one window position come from one row by an
// even/odd split of two loads.

using Float4 = float __attribute__((vector_size(16)));

Float4 load4(const float* p) {
  Float4 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
void store(float* p, Float4 v) { std::memcpy(p, &v, sizeof v); }
template <class T>
void store(T* p, T v) {
  *p = v;
}

// V = B^T d B, B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]: point xi of the
// tile (or tiles) to dst[xi * plane].
template <class L, class T>
void input_tile(const L d[4][4], T* dst, int64_t plane) {
  L t[4][4];  // B^T d
  for (int k = 0; k < 4; ++k) {
    t[0][k] = d[0][k] - d[2][k];
    t[1][k] = d[1][k] + d[2][k];
    t[2][k] = d[2][k] - d[1][k];
    t[3][k] = d[1][k] - d[3][k];
  }
  for (int i = 0; i < 4; ++i) {  // (B^T d) B
    store(dst + (i * 4 + 0) * plane, L(t[i][0] - t[i][2]));
    store(dst + (i * 4 + 1) * plane, L(t[i][1] + t[i][2]));
    store(dst + (i * 4 + 2) * plane, L(t[i][2] - t[i][1]));
    store(dst + (i * 4 + 3) * plane, L(t[i][1] - t[i][3]));
  }
}

// y = A^T m A + add, A^T = [1 1 1 0; 0 1 -1 -1]: the 2x2 block row-major.
template <class L>
void output_tile(const L m[16], L add, L y[4]) {
  L t0[4], t1[4];  // A^T m
  for (int i = 0; i < 4; ++i) {
    t0[i] = m[i] + m[4 + i] + m[8 + i];
    t1[i] = m[4 + i] - m[8 + i] - m[12 + i];
  }
  y[0] = t0[0] + t0[1] + t0[2] + add;
  y[1] = t0[1] - t0[2] - t0[3] + add;
  y[2] = t1[0] + t1[1] + t1[2] + add;
  y[3] = t1[1] - t1[2] - t1[3] + add;
}

// Rows r .. r + Rows - 1 and columns c .. c + Cols - 1 of one plane [H, W]
// into band, zero outside the plane (the convolution's padding).
template <class T, int64_t Rows, int64_t Cols>
void load_band(const T* plane, int64_t H, int64_t W, int64_t r, int64_t c, T (&band)[Rows][Cols]) {
  if (r >= 0 && c >= 0 && r + Rows <= H && c + Cols <= W) {
    for (int64_t i = 0; i < Rows; ++i)
      for (int64_t j = 0; j < Cols; ++j) band[i][j] = plane[(r + i) * W + c + j];
    return;
  }
  for (int64_t i = 0; i < Rows; ++i)
    for (int64_t j = 0; j < Cols; ++j) {
      const int64_t rr = r + i, cc = c + j;
      band[i][j] = rr >= 0 && rr < H && cc >= 0 && cc < W ? plane[rr * W + cc] : T(0);
    }
}

// The windows of four tiles side by side (columns c, c + 2, c + 4, c + 6 of
// rows r .. r + 3, all inside the plane), lane t holding tile t's.
void load_windows4(const float* plane, int64_t W, int64_t r, int64_t c, Float4 d[4][4]) {
  for (int i = 0; i < 4; ++i) {
    const float* row = plane + (r + i) * W + c;
    const Float4 a = load4(row), b = load4(row + 4), a2 = load4(row + 2), b2 = load4(row + 6);
    d[i][0] = __builtin_shufflevector(a, b, 0, 2, 4, 6);
    d[i][1] = __builtin_shufflevector(a, b, 1, 3, 5, 7);
    d[i][2] = __builtin_shufflevector(a2, b2, 0, 2, 4, 6);
    d[i][3] = __builtin_shufflevector(a2, b2, 1, 3, 5, 7);
  }
}

// True when windows w[0..3] are four neighbours in one tile row of one image.
bool side_by_side(const Window* w) {
  return w[3].image == w[0].image && w[3].row == w[0].row && w[3].col == w[0].col + 6;
}

// The input transform of input channel c for `count` tiles into v: point xi
// of column j at v[xi * plane + j]. Float tiles go four at a time where four
// neighbours lie wholly inside the image.
template <class T>
void input_transform(const T* x, const TileGrid& g, int64_t C, int64_t c, const Window* win, int64_t count, T* v,
                     int64_t plane) {
  for (int64_t j = 0; j < count;) {
    const T* image_plane = x + (win[j].image * C + c) * g.H * g.W;
    const int64_t r = win[j].row, col = win[j].col;
    if constexpr (std::is_same_v<T, float>) {
      if (j + 4 <= count && side_by_side(win + j)) {
        Float4 d[4][4];
        if (r >= 0 && col >= 0 && r + 4 <= g.H && col + 10 <= g.W) {
          load_windows4(image_plane, g.W, r, col, d);
        } else {  // at an edge: the four windows' band of 4 x 10 pixels, zero-padded, first
          float band[4][10];
          load_band(image_plane, g.H, g.W, r, col, band);
          load_windows4(&band[0][0], 10, 0, 0, d);
        }
        input_tile(d, v + j, plane);
        j += 4;
        continue;
      }
    }
    T d[4][4];  // one tile's 4x4 window
    load_band(image_plane, g.H, g.W, r, col, d);
    input_tile(d, v + j, plane);
    ++j;
  }
}

// The output transform of output channel k for `count` tiles from m (point xi
// of column j at m[xi * plane + j]), plus `add`; a 2x2 block is cut at the
// image's bottom and right edges. Float tiles go four at a time where four
// neighbours' blocks lie wholly inside the image.
template <class T>
void output_transform(const T* m, int64_t plane, const TileGrid& g, int64_t K, int64_t k, const Window* win,
                      int64_t count, T add, T* y) {
  for (int64_t j = 0; j < count;) {
    const int64_t r = win[j].row + 1, c = win[j].col + 1;
    T* out = y + (win[j].image * K + k) * g.H * g.W + r * g.W + c;
    if constexpr (std::is_same_v<T, float>) {
      if (j + 4 <= count && side_by_side(win + j) && r + 2 <= g.H && c + 8 <= g.W) {
        Float4 mm[16], o[4];
        for (int xi = 0; xi < 16; ++xi) mm[xi] = load4(m + xi * plane + j);
        output_tile(mm, Float4{add, add, add, add}, o);
        // Lane t's block goes to columns 2t, 2t + 1 of both rows.
        store(out, __builtin_shufflevector(o[0], o[1], 0, 4, 1, 5));
        store(out + 4, __builtin_shufflevector(o[0], o[1], 2, 6, 3, 7));
        store(out + g.W, __builtin_shufflevector(o[2], o[3], 0, 4, 1, 5));
        store(out + g.W + 4, __builtin_shufflevector(o[2], o[3], 2, 6, 3, 7));
        j += 4;
        continue;
      }
    }
    T mm[16], o[4];
    for (int xi = 0; xi < 16; ++xi) mm[xi] = m[xi * plane + j];
    output_tile(mm, add, o);
    const bool right = c + 1 < g.W, below = r + 1 < g.H;
    out[0] = o[0];
    if (right) out[1] = o[1];
    if (below) {
      out[g.W] = o[2];
      if (right) out[g.W + 1] = o[3];
    }
    ++j;
  }
}

// The adjoint of output_transform for the gradient dy of output channel k:
// dM = A dY A^T, dY the tile's 2x2 block of dy (zero past the image's edges).
template <class T>
void output_transform_adjoint(const T* dy, const TileGrid& g, int64_t K, int64_t k, const Window* win,
                              int64_t count, T* dm, int64_t plane) {
  for (int64_t j = 0; j < count; ++j) {
    const int64_t r = win[j].row + 1, c = win[j].col + 1;
    const T* src = dy + (win[j].image * K + k) * g.H * g.W + r * g.W + c;
    const bool right = c + 1 < g.W, below = r + 1 < g.H;
    const T d[2][2] = {{src[0], right ? src[1] : T(0)},
                       {below ? src[g.W] : T(0), below && right ? src[g.W + 1] : T(0)}};
    T t[4][2];  // A dY
    for (int b = 0; b < 2; ++b) {
      t[0][b] = d[0][b];
      t[1][b] = d[0][b] + d[1][b];
      t[2][b] = d[0][b] - d[1][b];
      t[3][b] = -d[1][b];
    }
    T* dst = dm + j;
    for (int i = 0; i < 4; ++i) {  // (A dY) A^T
      dst[(i * 4 + 0) * plane] = t[i][0];
      dst[(i * 4 + 1) * plane] = t[i][0] + t[i][1];
      dst[(i * 4 + 2) * plane] = t[i][0] - t[i][1];
      dst[(i * 4 + 3) * plane] = -t[i][1];
    }
  }
}

// The distance between the 16 planes of a transformed block of `rows` rows
// and `cols` columns: one cache line more than the plane, so that the 16
// streams a transform reads or writes do not all fall into the same sets of
// the L1 cache (a plane of 64 x 64 floats is 16 KiB, and would).
int64_t plane_stride(int64_t rows, int64_t cols) { return rows * cols + 16; }

// Columns (tiles) in one forward block: a multiple of 16 (whole micro-kernel
// tiles of the products), at least 16.
int64_t block_columns(const WinogradBlocking& cut, int64_t C, int64_t K) {
  return std::max<int64_t>(cut.block_elements / (16 * (C + K)) / 16 * 16, 16);
}

}  // namespace

template <class T>
void winograd_conv3x3(const T* x, const T* w, const T* bias, T* y, int64_t N, int64_t C, int64_t K, int64_t H,
                      int64_t W, const WinogradBlocking& cut) {
  const TileGrid g{H, W};
  const int64_t total = N * g.per_image();
  if (total == 0 || K == 0) return;
  if (C == 0) {  // no input channels: the bias alone
    for (int64_t nk = 0; nk < N * K; ++nk) std::fill_n(y + nk * H * W, H * W, bias ? bias[nk % K] : T(0));
    return;
  }
  const auto u = transformed_filters(w, K, C);
  const int64_t cols = std::min(block_columns(cut, C, K), total), blocks = ceil_div(total, cols);
#pragma omp parallel if (blocks > 1 && 16 * total * C * K >= kParallelWork)
  {
    // Each thread's block: V_xi [C, cols] and M_xi [K, cols], xi = 0..15.
    const int64_t vs = plane_stride(C, cols), ms = plane_stride(K, cols);
    const auto v = buffer<T>(16 * vs), m = buffer<T>(16 * ms);
    auto win = std::vector<Window>(size_t(cols));
#pragma omp for schedule(static)
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t first = b * cols, count = std::min(cols, total - first);
      windows_of(g, first, count, win.data());
      for (int64_t c = 0; c < C; ++c) input_transform(x, g, C, c, win.data(), count, v.get() + c * cols, vs);
      // Inside a parallel region each product runs on this thread alone.
      blas::gemm_batched<T>({K, count, C, false, false, C, cols, cols}, T(0), 16, [&](int64_t xi) {
        return blas::GemmOperands<T>{u.get() + xi * K * C, v.get() + xi * vs, m.get() + xi * ms};
      });
      for (int64_t k = 0; k < K; ++k)
        output_transform(m.get() + k * cols, ms, g, K, k, win.data(), count, bias ? bias[k] : T(0), y);
    }
  }
}

template <class T>
void winograd_conv3x3_weight_grad(const T* x, const T* dy, T* dw, int64_t N, int64_t C, int64_t K, int64_t H,
                                  int64_t W, const WinogradBlocking& cut) {
  const TileGrid g{H, W};
  const int64_t total = N * g.per_image();
  if (K == 0 || C == 0) return;
  if (total == 0) {  // an empty batch: a zero gradient
    std::fill_n(dw, K * C * 9, T(0));
    return;
  }
  // dU_xi [K, C] = sum over chunks of dM_xi [K, cols] V_xi [C, cols]^T.
  const int64_t cols = std::clamp<int64_t>(cut.chunk_elements / (16 * (C + K)), 1, total);
  const int64_t vs = plane_stride(C, cols), ms = plane_stride(K, cols);
  const auto du = buffer<T>(16 * K * C), v = buffer<T>(16 * vs), dm = buffer<T>(16 * ms);
  auto win = std::vector<Window>(size_t(cols));
  for (int64_t first = 0; first < total; first += cols) {
    const int64_t count = std::min(cols, total - first);
    windows_of(g, first, count, win.data());
#pragma omp parallel for schedule(static) if (C > 1 && C * count >= 4096)
    for (int64_t c = 0; c < C; ++c) input_transform(x, g, C, c, win.data(), count, v.get() + c * cols, vs);
#pragma omp parallel for schedule(static) if (K > 1 && K * count >= 4096)
    for (int64_t k = 0; k < K; ++k)
      output_transform_adjoint(dy, g, K, k, win.data(), count, dm.get() + k * cols, ms);
    blas::gemm_batched<T>({K, C, count, false, true, cols, cols, C}, first == 0 ? T(0) : T(1), 16, [&](int64_t xi) {
      return blas::GemmOperands<T>{dm.get() + xi * ms, v.get() + xi * vs, du.get() + xi * K * C};
    });
  }
  for (int64_t kc = 0; kc < K * C; ++kc) {
    T t[16];
    for (int xi = 0; xi < 16; ++xi) t[xi] = du[xi * K * C + kc];
    filter_transform_adjoint(t, dw + kc * 9);
  }
}

template void winograd_conv3x3<float>(const float*, const float*, const float*, float*, int64_t, int64_t, int64_t,
                                      int64_t, int64_t, const WinogradBlocking&);
template void winograd_conv3x3<double>(const double*, const double*, const double*, double*, int64_t, int64_t,
                                       int64_t, int64_t, int64_t, const WinogradBlocking&);
template void winograd_conv3x3_weight_grad<float>(const float*, const float*, float*, int64_t, int64_t, int64_t,
                                                  int64_t, int64_t, const WinogradBlocking&);
template void winograd_conv3x3_weight_grad<double>(const double*, const double*, double*, int64_t, int64_t, int64_t,
                                                   int64_t, int64_t, const WinogradBlocking&);

}  // namespace ng::cpu
