// Convolution forward and input gradient as one implicit-GEMM kernel, and the
// public launchers of kernels/conv.h.
//
// Both products are C[m, n] = sum_k A[m, k] B[k, n] where a row m is one
// output pixel (image, row, column), a column n one output channel, and k
// runs over (channel c, tap row a, tap column b) of the reduction:
//   A[m, k] = src[image, c, row0 + row_m*th + row_a*a, col0 + col_m*tw + col_b*b]
//             (zero outside the image: that is the padding)
//   B[k, n] = w[woff + n*wn + c*wc + a*wa + b*wb]
//   out[image, n, orow0 + orow_m*th, ocol0 + ocol_m*tw] = act(C[m, n] + bias[n])
// Forward: src = x, c over Cin, every tap (a, b) = (ki, kj), one GEMM.
// Input gradient: src = dy, c over Cout. With stride s, a dx pixel ih is
// reached only through taps ki = (ih + pad) mod s (+ multiples of s); so the
// dx pixels split into s*s phases (blockIdx.z), each a dense GEMM over its own
// taps with no zero taps to skip (a 4x4 kernel at stride 2: 4 taps a phase,
// not 16).
//
// A block computes a BM x BN tile (kernels/conv_tile.cuh for the thread
// layout). Each step's kBK columns of A and rows of B are gathered element by
// element with asynchronous copies (cp.async, zero-filled in the padding)
// straight into one of three shared-memory panels, two steps ahead of the
// product: one barrier a step, and no registers spent on staging.
#include "kernels/conv.h"

#include <climits>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/conv_impl.h"
#include "kernels/conv_mma.cuh"
#include "kernels/conv_tile.cuh"
#include "kernels/cuda_check.h"

namespace ng::kernels {

namespace {

using namespace conv_tile;

struct GatherGemm {
  const float* src;    // A is gathered from src [batch, C, H, W]: x, or dy
  const float* wt;     // w [Cout, Cin, kh, kw]
  const float* bias;   // [N] or null
  float* out;          // [batch, N, OH, OW]: y, or dx
  int batch, C, H, W;  // src
  int N, OH, OW;       // out
  int kh, kw, stride, pad;
  int vec_store;   // forward with OH*OW % 4 == 0 and out 16-byte aligned
  ConvEpilogue ep;
};

// The GEMM of one block's phase (see the file comment for the formulas).
struct Phase {
  int mh, mw;  // output pixels per image in this phase: mh x mw
  int ka, kb;  // taps per kernel row / column that reach them
  int row0, row_m, row_a, col0, col_m, col_b;
  int orow0, orow_m, ocol0, ocol_m;
  int wn, wc, wa, wb, woff;
};

// Two ints in [-2^15, 2^15) in one register, and back (sign-extended).
__device__ __forceinline__ int pack16(int high, int low) { return int((unsigned(high) << 16) | (unsigned(low) & 0xffffu)); }
__device__ __forceinline__ int high16(int packed) { return packed >> 16; }
__device__ __forceinline__ int low16(int packed) { return int(short(packed & 0xffff)); }
// A row index that stays outside the image after any tap offset (|offset| <= 4096).
constexpr int kFarOutside = 16384;

__device__ __forceinline__ int floor_mod(int a, int s) {
  const int r = a % s;
  return r < 0 ? r + s : r;
}

// kTransposed: false for the forward, true for the input gradient (where
// blockIdx.z is the stride phase). A template parameter, so that the
// forward's constant strides (row_a = 1, ...) cost no registers.
template <bool kTransposed>
__device__ __forceinline__ Phase phase_of(const GatherGemm& p, int z) {
  Phase f;
  const int s = p.stride;
  if constexpr (!kTransposed) {
    // Output pixel (oh, ow) reads src rows oh*s - pad + ki, ki < kh.
    f.mh = p.OH, f.mw = p.OW, f.ka = p.kh, f.kb = p.kw;
    f.row0 = -p.pad, f.row_m = s, f.row_a = 1;
    f.col0 = -p.pad, f.col_m = s, f.col_b = 1;
    f.orow0 = 0, f.orow_m = 1, f.ocol0 = 0, f.ocol_m = 1;
    f.wn = p.C * p.kh * p.kw, f.wc = p.kh * p.kw, f.wa = p.kw, f.wb = 1, f.woff = 0;
  } else {
    // Phase (rh, rw): dx rows ih = ih0 + s*th with (ih + pad) % s == rh.
    // Forward row oh fed ih through tap ki iff oh*s - pad + ki == ih, so the
    // taps are ki = rh + s*a and oh = (ih + pad - ki) / s = row0 + th - a,
    // where row0 = (ih0 + pad - rh) / s is exact and >= 0.
    const int rh = z / s, rw = z % s;
    const int ih0 = floor_mod(rh - p.pad, s), iw0 = floor_mod(rw - p.pad, s);
    f.mh = ih0 < p.OH ? (p.OH - ih0 + s - 1) / s : 0;
    f.mw = iw0 < p.OW ? (p.OW - iw0 + s - 1) / s : 0;
    f.ka = rh < p.kh ? (p.kh - rh + s - 1) / s : 0;
    f.kb = rw < p.kw ? (p.kw - rw + s - 1) / s : 0;
    f.row0 = (ih0 + p.pad - rh) / s, f.row_m = 1, f.row_a = -1;
    f.col0 = (iw0 + p.pad - rw) / s, f.col_m = 1, f.col_b = -1;
    f.orow0 = ih0, f.orow_m = s, f.ocol0 = iw0, f.ocol_m = s;
    // w[c][n][rh + s*a][rw + s*b]: c is dy's channel, n is dx's.
    f.wn = p.kh * p.kw, f.wc = p.N * p.kh * p.kw, f.wa = s * p.kw, f.wb = s, f.woff = rh * p.kw + rw;
  }
  return f;
}

// Where GEMM row m (a pixel of this phase) lands in the output, channel 0.
__device__ __forceinline__ float* output_pixel(const GatherGemm& p, const Phase& f, int m, int pixels) {
  const int img = m / pixels, rest = m - img * pixels, th = rest / f.mw, tw = rest - th * f.mw;
  return p.out + img * (p.N * p.OH * p.OW) + (f.orow0 + f.orow_m * th) * p.OW + f.ocol0 + f.ocol_m * tw;
}

// The SIMT tiles' epilogue: thread (ty, tx) owns rows owned(ty, i) and
// columns owned(tx, j) of the tile (kernels/conv_tile.cuh).
template <class TileT, bool kTransposed>
__device__ __forceinline__ void epilogue_fma(const GatherGemm& p, const Phase& f, const typename TileT::Acc& acc,
                                             int m0, int n0, int M, int pixels, int ty, int tx) {
  constexpr int BM = TileT::BM, BN = TileT::BN, TM = TileT::TM, TN = TileT::TN;
  const int out_plane = p.OH * p.OW;
  float bias[TN];
#pragma unroll
  for (int j = 0; j < TN; ++j) {
    const int n = n0 + owned<BN, TN>(tx, j);
    bias[j] = p.bias && n < p.N ? p.bias[n] : 0.0f;
  }
  if (!kTransposed && TM >= 4 && p.vec_store) {
    // Rows 4g..4g+3 of this thread are 4 consecutive pixels of one image
    // (out_plane % 4 == 0 and they start at a multiple of 4): one float4.
#pragma unroll
    for (int g = 0; g < TM / 4; ++g) {
      const int m = m0 + owned<BM, TM>(ty, 4 * g);
      if (m >= M) continue;
      const int img = m / pixels;
      float* o = p.out + img * (p.N * out_plane) + (m - img * pixels);
#pragma unroll
      for (int j = 0; j < TN; ++j) {
        const int n = n0 + owned<BN, TN>(tx, j);
        if (n >= p.N) continue;
        const float4 v = make_float4(activate(acc[4 * g][j] + bias[j], p.ep), activate(acc[4 * g + 1][j] + bias[j], p.ep),
                                     activate(acc[4 * g + 2][j] + bias[j], p.ep),
                                     activate(acc[4 * g + 3][j] + bias[j], p.ep));
        *reinterpret_cast<float4*>(o + n * out_plane) = v;
      }
    }
  } else {
#pragma unroll
    for (int i = 0; i < TM; ++i) {
      const int m = m0 + owned<BM, TM>(ty, i);
      if (m >= M) continue;
      float* o = output_pixel(p, f, m, pixels);
#pragma unroll
      for (int j = 0; j < TN; ++j) {
        const int n = n0 + owned<BN, TN>(tx, j);
        if (n < p.N) o[n * out_plane] = activate(acc[i][j] + bias[j], p.ep);
      }
    }
  }
}

// The tensor-core tiles' epilogue: each accumulator's row (pixel) and
// column (channel) from the mma C fragment layout; the 8 lanes of one column
// group store 8 consecutive pixels.
template <class TileT>
__device__ __forceinline__ void epilogue_mma(const GatherGemm& p, const Phase& f, const typename TileT::Acc& acc,
                                             int m0, int n0, int M, int pixels, int warp, int lane) {
  const int out_plane = p.OH * p.OW;
#pragma unroll
  for (int i = 0; i < TileT::MT; ++i)
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int m = m0 + conv_mma::acc_row<TileT>(warp, lane, i, 2 * half);
      if (m >= M) continue;
      float* o = output_pixel(p, f, m, pixels);
#pragma unroll
      for (int j = 0; j < TileT::NT; ++j)
#pragma unroll
        for (int r = 2 * half; r < 2 * half + 2; ++r) {
          const int n = n0 + conv_mma::acc_col<TileT>(warp, lane, j, r);
          if (n < p.N) o[n * out_plane] = activate(acc[i][j][r] + (p.bias ? p.bias[n] : 0.0f), p.ep);
        }
    }
}

// TileT: a conv_tile::Tile (fp32 FMAs on CUDA cores, every accumulator
// summed in k order) or a conv_mma::MmaTile (tf32 tensor cores).
template <class TileT, bool kTransposed>
__global__ void __launch_bounds__(kThreads, TileT::kMinBlocks) conv_gather_gemm(const GatherGemm p) {
  constexpr int BM = TileT::BM, BN = TileT::BN, kRowPad = TileT::kPad;
  constexpr int RA = BM / 32, RB = (BN + 31) / 32;  // elements a thread gathers per step
  static_assert(BM % 32 == 0, "the A gather covers 32 rows a warp");
  __shared__ __align__(16) float As[kStages][kBK][BM + kRowPad];
  __shared__ __align__(16) float Bs[kStages][kBK][BN + kRowPad];

  const Phase f = phase_of<kTransposed>(p, blockIdx.z);
  const int pixels = f.mh * f.mw, M = p.batch * pixels;
  const int m0 = blockIdx.x * BM, n0 = blockIdx.y * BN;
  if (m0 >= M) return;  // a phase smaller than the grid: the whole block leaves, before any barrier
  const int taps = f.ka * f.kb, K = p.C * taps, steps = (K + kBK - 1) / kBK;
  const int t = threadIdx.x, lane = t % 32, warp = t / 32;

  // A gather: rows m0 + lane + 32r of column k = warp (+ kBK a step); the
  // column's digits are the same for the whole warp. Per row: the src offset
  // of its tap (0, 0), and its src row and column packed in 16 bits each
  // (check_sizes keeps them in range) to spare registers. A row past M sits
  // far above the image, so it loads zeros.
  int a_base[RA], a_rc[RA];
#pragma unroll
  for (int r = 0; r < RA; ++r) {
    const int m = m0 + lane + 32 * r;
    const int img = m / pixels, rest = m - img * pixels, th = rest / f.mw, tw = rest - th * f.mw;
    const int row = m < M ? f.row0 + f.row_m * th : -kFarOutside, col = f.col0 + f.col_m * tw;
    a_base[r] = img * (p.C * p.H * p.W) + row * p.W + col;
    a_rc[r] = pack16(row, col);
  }
  // B gather: columns n0 + t/8 + 32r (those inside the tile) at row k = t % 8 (+ kBK a step).
  const int b_n = n0 + t / kBK;
  Digits ka{}, kb{}, step{};
  if (taps > 0) {
    ka = digits_of(warp, f.ka, f.kb);
    kb = digits_of(t % kBK, f.ka, f.kb);
    step = digits_of(kBK, f.ka, f.kb);
  }
  const int plane = p.H * p.W;

  // Starts the copies of one step's panels into `stage`, then moves on to
  // the next step's columns.
  auto gather = [&](int stage) {
    const bool a_ok = ka.c < p.C;
    const int dr = f.row_a * ka.a, dc = f.col_b * ka.b, a_off = ka.c * plane + dr * p.W + dc;
#pragma unroll
    for (int r = 0; r < RA; ++r) {
      const int row = high16(a_rc[r]) + dr, col = low16(a_rc[r]) + dc;
      const bool inside = a_ok && unsigned(row) < unsigned(p.H) && unsigned(col) < unsigned(p.W);
      copy_or_zero(&As[stage][warp][lane + 32 * r], p.src + a_base[r] + a_off, p.src, inside);
    }
    const bool b_ok = kb.c < p.C;
    const int w_off = f.woff + kb.c * f.wc + kb.a * f.wa + kb.b * f.wb;
#pragma unroll
    for (int r = 0; r < RB; ++r) {
      const int n = b_n + 32 * r;
      if (BN % 32 == 0 || t / kBK + 32 * r < BN)
        copy_or_zero(&Bs[stage][t % kBK][t / kBK + 32 * r], p.wt + n * f.wn + w_off, p.wt, b_ok && n < p.N);
    }
    advance(ka, step, f.ka, f.kb);
    advance(kb, step, f.ka, f.kb);
  };

  typename TileT::Acc acc = {};

  // Three panels: step s is multiplied while steps s+1 and s+2 load. One
  // group of copies is committed per step (empty past the end), so "all but
  // the newest group done" means step s has landed.
  if (steps > 0) gather(0);
  commit_copies();
  if (steps > 1) gather(1);
  commit_copies();
  for (int s = 0; s < steps; ++s) {
    wait_copies<1>();
    __syncthreads();  // step s visible to all; every thread is done with step s-1's panel
    if (s + 2 < steps) gather((s + 2) % kStages);  // into step s-1's panel
    commit_copies();
    conv_mma::panel_step<TileT>(As[s % kStages], Bs[s % kStages], t, acc);
  }

  // Epilogue: bias, activation, store. A phase with no taps (K == 0) writes
  // just the bias, which is right: no forward pixel reached those dx pixels.
  if constexpr (TileT::kMma)
    epilogue_mma<TileT>(p, f, acc, m0, n0, M, pixels, warp, lane);
  else
    epilogue_fma<TileT, kTransposed>(p, f, acc, m0, n0, M, pixels, t / TileT::Cols, t % TileT::Cols);
}

int multiprocessors() {
  static std::mutex mutex;
  static std::vector<int> counts;
  int device = 0;
  NG_CUDA_CHECK(cudaGetDevice(&device));
  std::lock_guard<std::mutex> lock(mutex);
  if (counts.size() <= size_t(device)) counts.resize(size_t(device) + 1, 0);
  if (!counts[size_t(device)])
    NG_CUDA_CHECK(cudaDeviceGetAttribute(&counts[size_t(device)], cudaDevAttrMultiProcessorCount, device));
  return counts[size_t(device)];
}

template <class TileT>
void launch_tile(const GatherGemm& p, bool transposed, int phases, int max_rows, cudaStream_t stream) {
  const dim3 grid(unsigned(ceil_div(max_rows, TileT::BM)), unsigned(ceil_div(p.N, TileT::BN)), unsigned(phases));
  if (transposed)
    conv_gather_gemm<TileT, true><<<grid, kThreads, 0, stream>>>(p);
  else
    conv_gather_gemm<TileT, false><<<grid, kThreads, 0, stream>>>(p);
  NG_CHECK_LAUNCH("conv_gather_gemm");
}

// Picks the tile: BN the smallest of 4/16/32/64/128 that covers the output
// channels (or 128); BM 128 (256 for BN = 4) unless that leaves fewer than
// two blocks per multiprocessor, then 64. Any fp32 tile gives bit-identical
// results (see kernels/conv_tile.cuh); tf32 has tiles of its own.
void run_gather_gemm(const GatherGemm& p, bool transposed, int phases, int max_rows, const ConvTuning& tune,
                     cudaStream_t stream) {
  const auto run = [&](auto tile) { launch_tile<decltype(tile)>(p, transposed, phases, max_rows, stream); };
  if (tune.math == ConvMath::tf32 && p.N > 16) {
    // Tensor cores: BN 64 or 128 by the channels, BM 128 unless that leaves
    // fewer than two blocks per multiprocessor (the 7x7 and 14x14 layers).
    const int bn = tune.tile_n ? tune.tile_n : p.N <= 64 ? 64 : 128;
    int bm = tune.tile_m;
    if (!bm) {
      const int64_t blocks = int64_t(ceil_div(max_rows, 128)) * ceil_div(p.N, bn) * phases;
      bm = blocks >= 2 * int64_t(multiprocessors()) ? 128 : 64;
    }
    if (bm == 128 && bn == 128) return run(conv_mma::MmaTile<128, 128>{});
    if (bm == 128 && bn == 64) return run(conv_mma::MmaTile<128, 64>{});
    if (bm == 64 && bn == 128) return run(conv_mma::MmaTile<64, 128>{});
    if (bm == 64 && bn == 64) return run(conv_mma::MmaTile<64, 64>{});
    throw std::invalid_argument("conv2d: no " + std::to_string(bm) + "x" + std::to_string(bn) +
                                " tf32 tile for the forward / input-gradient kernel (64 or 128 x 64 or 128)");
  }
  const int bn = tune.tile_n ? tune.tile_n
                 : p.N <= 4  ? 4
                 : p.N <= 16 ? 16
                 : p.N <= 32 ? 32
                 : p.N <= 64 ? 64
                             : 128;
  int bm = tune.tile_m;
  if (!bm) {
    const int64_t blocks = int64_t(ceil_div(max_rows, 128)) * ceil_div(p.N, bn) * phases;
    bm = bn == 4 ? 256 : bn == 16 || blocks >= 2 * int64_t(multiprocessors()) ? 128 : 64;
  }
  if (bm == 128 && bn == 128) return run(Tile<128, 128, 8, 8>{});
  if (bm == 128 && bn == 64) return run(Tile<128, 64, 8, 4>{});
  if (bm == 128 && bn == 32) return run(Tile<128, 32, 8, 2>{});
  if (bm == 64 && bn == 128) return run(Tile<64, 128, 4, 8>{});
  if (bm == 64 && bn == 64) return run(Tile<64, 64, 4, 4>{});
  if (bm == 64 && bn == 32) return run(Tile<64, 32, 4, 2>{});
  if (bm == 128 && bn == 16) return run(Tile<128, 16, 8, 1>{});
  if (bm == 256 && bn == 4) return run(Tile<256, 4, 4, 1>{});
  throw std::invalid_argument("conv2d: no " + std::to_string(bm) + "x" + std::to_string(bn) +
                              " tile for the forward / input-gradient kernel (64 or 128 x 32, 64 or 128; 128x16; "
                              "256x4)");
}

bool aligned16(const void* ptr) { return (reinterpret_cast<uintptr_t>(ptr) & 15) == 0; }

}  // namespace

namespace conv_impl {

void check_sizes(const char* op, const ConvGeometry& g) {
  const auto fail = [&](const std::string& what) {
    throw std::invalid_argument(std::string(op) + ": " + what + " (the CUDA kernels index with 32-bit ints)");
  };
  const int64_t limit = INT_MAX / 2;
  const int64_t sizes[] = {g.batch * g.c_in * g.h * g.w, g.batch * g.c_out * g.h_out * g.w_out,
                           g.c_out * g.c_in * g.kh * g.kw};
  for (int64_t n : sizes)
    if (n > limit) fail("a tensor of " + std::to_string(n) + " elements is too large");
  if (g.stride < 1 || g.stride > 255) fail("stride " + std::to_string(g.stride) + " is outside [1, 255]");
  // The gather packs src rows and columns in 16 bits: images up to 2^14,
  // kernels and padding up to 2^12 keep every tap's row in [-2^15, 2^15).
  if (g.h > 1 << 14 || g.w > 1 << 14 || g.h_out > 1 << 14 || g.w_out > 1 << 14)
    fail("an image side above 16384");
  if (g.kh > 1 << 12 || g.kw > 1 << 12 || g.padding < 0 || g.padding > 1 << 12)
    fail("a kernel side or padding above 4096");
  if (g.c_in > 1 << 21 || g.c_out > 1 << 21) fail("more than 2^21 channels");
  // The weight gradient's column tiles (16 wide at the least) run along gridDim.y.
  if (g.c_in * g.kh * g.kw > int64_t(65535) * 16) fail("more than 65535 * 16 weights per output channel");
}

}  // namespace conv_impl

void launch_conv2d_forward(ScalarType t, const ConvGeometry& g, void* y, const void* x, const void* w,
                           const void* bias, const ConvEpilogue& ep, cudaStream_t stream, const ConvTuning& tune) {
  conv_impl::check_sizes("conv2d_forward", g);
  if (g.batch * g.c_out * g.h_out * g.w_out == 0) return;
  if (t == ScalarType::f64)
    return conv_impl::forward_f64(g, static_cast<double*>(y), static_cast<const double*>(x),
                                  static_cast<const double*>(w), static_cast<const double*>(bias), ep, stream);
  GatherGemm p{};
  p.src = static_cast<const float*>(x), p.wt = static_cast<const float*>(w);
  p.bias = static_cast<const float*>(bias), p.out = static_cast<float*>(y);
  p.batch = int(g.batch), p.C = int(g.c_in), p.H = int(g.h), p.W = int(g.w);
  p.N = int(g.c_out), p.OH = int(g.h_out), p.OW = int(g.w_out);
  p.kh = int(g.kh), p.kw = int(g.kw), p.stride = int(g.stride), p.pad = int(g.padding);
  p.vec_store = (g.h_out * g.w_out) % 4 == 0 && aligned16(y);
  p.ep = ep;
  run_gather_gemm(p, false, 1, int(g.batch * g.h_out * g.w_out), tune, stream);
}

void launch_conv2d_input_grad(ScalarType t, const ConvGeometry& g, void* dx, const void* dy, const void* w,
                              const void* bias, cudaStream_t stream, const ConvTuning& tune) {
  conv_impl::check_sizes("conv2d_input_grad", g);
  if (g.batch * g.c_in * g.h * g.w == 0) return;
  if (t == ScalarType::f64)
    return conv_impl::input_grad_f64(g, static_cast<double*>(dx), static_cast<const double*>(dy),
                                     static_cast<const double*>(w), static_cast<const double*>(bias), stream);
  GatherGemm p{};
  p.src = static_cast<const float*>(dy), p.wt = static_cast<const float*>(w);
  p.bias = static_cast<const float*>(bias), p.out = static_cast<float*>(dx);
  p.batch = int(g.batch), p.C = int(g.c_out), p.H = int(g.h_out), p.W = int(g.w_out);
  p.N = int(g.c_in), p.OH = int(g.h), p.OW = int(g.w);
  p.kh = int(g.kh), p.kw = int(g.kw), p.stride = int(g.stride), p.pad = int(g.padding);
  p.vec_store = 0;
  const int64_t s = g.stride;
  run_gather_gemm(p, true, int(s * s), int(g.batch * ((g.h + s - 1) / s) * ((g.w + s - 1) / s)), tune, stream);
}

size_t conv2d_weight_grad_workspace(ScalarType t, const ConvGeometry& g, const ConvTuning& tune) {
  conv_impl::check_sizes("conv2d_weight_grad", g);
  return t == ScalarType::f32 ? conv_impl::weight_grad_workspace_f32(g, tune) : 0;
}

void launch_conv2d_weight_grad(ScalarType t, const ConvGeometry& g, void* dw, const void* x, const void* dy,
                               void* workspace, cudaStream_t stream, const ConvTuning& tune) {
  conv_impl::check_sizes("conv2d_weight_grad", g);
  if (g.c_out * g.c_in * g.kh * g.kw == 0) return;
  if (t == ScalarType::f64)
    return conv_impl::weight_grad_f64(g, static_cast<double*>(dw), static_cast<const double*>(x),
                                      static_cast<const double*>(dy), stream);
  conv_impl::weight_grad_f32(g, static_cast<float*>(dw), static_cast<const float*>(x), static_cast<const float*>(dy),
                             static_cast<float*>(workspace), stream, tune);
}

}  // namespace ng::kernels
