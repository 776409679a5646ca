// The float32 weight gradient as an implicit GEMM with a deterministic split-K.
//
//   dW[co, k] = sum_p dy[image, co, oh, ow] * x[image, ci, oh*s - pad + ki, ow*s - pad + kj]
//
// rows co < Cout, columns k = (ci, ki, kj) < Cin*kh*kw, and the reduction
// over the pixels p = (image, oh, ow) < N*Ho*Wo, which is long (25088 at
// batch 128 on 14x14) while dW is small (32 x 16 for the VAE's first conv).
// So the reduction is split: blockIdx.z sums one contiguous range of pixels
// into its own slice of a workspace [splits, Cout, K], and a second kernel
// adds the slices in a fixed order. No atomics: the same inputs give the same
// bits on every run. The split count depends only on the shapes.
//
// Per step a block gathers kBK pixels: thread t takes pixel t % kBK, the dy
// values of channels t/kBK + 32r (As) and the x values of patch entries
// t/kBK + 32r (Bs), so a warp reads 8 consecutive pixels of 4 rows:
// 32-byte runs. The product is fp32 FMAs, or tf32 tensor cores when asked
// (kernels/conv_mma.cuh: the same panels, eight pixels one mma k-step).
#include <algorithm>
#include <climits>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "kernels/conv_impl.h"
#include "kernels/conv_mma.cuh"
#include "kernels/conv_tile.cuh"
#include "kernels/cuda_check.h"

namespace ng::kernels::conv_impl {

namespace {

using namespace conv_tile;

// About four resident blocks per multiprocessor of an H100; a constant, so
// that the split (hence the result's rounding) is the same on every GPU.
constexpr int64_t kTargetBlocks = 512;
// A split sums at least this many steps (kBK pixels each).
constexpr int64_t kMinStepsPerSplit = 8;

struct WgradGemm {
  const float* x;   // [batch, C, H, W]
  const float* dy;  // [batch, Cout, OH, OW]
  float* out;       // dw [Cout, C*kh*kw], or the workspace [splits, Cout, C*kh*kw]
  int batch, C, H, W, Cout, OH, OW;
  int kh, kw, stride, pad;
  int steps_per_split;
};

// TileT: a conv_tile::Tile (fp32 FMAs; all of them built for two blocks an
// SM) or a conv_mma::MmaTile (tf32 tensor cores).
template <class TileT>
__global__ void __launch_bounds__(kThreads, TileT::kMma ? TileT::kMinBlocks : 2) conv_wgrad_gemm(const WgradGemm p) {
  constexpr int BM = TileT::BM, BN = TileT::BN, kRowPad = TileT::kPad;
  constexpr int RA = (BM + 31) / 32, RB = (BN + 31) / 32;  // elements a thread gathers per step
  __shared__ __align__(16) float As[kStages][kBK][BM + kRowPad];
  __shared__ __align__(16) float Bs[kStages][kBK][BN + kRowPad];

  const int taps = p.kh * p.kw, K = p.C * taps, opix = p.OH * p.OW, plane = p.H * p.W;
  const int total = (p.batch * opix + kBK - 1) / kBK;
  const int s0 = min(int(blockIdx.z) * p.steps_per_split, total), s1 = min(s0 + p.steps_per_split, total);
  const int m0 = blockIdx.x * BM, n0 = blockIdx.y * BN;
  const int t = threadIdx.x, kk = t % kBK, q = t / kBK;

  // dy rows (output channels) and x patch entries this thread gathers.
  int a_ch[RA];
#pragma unroll
  for (int r = 0; r < RA; ++r) {
    const int co = m0 + q + 32 * r;
    a_ch[r] = co < p.Cout ? co * opix : -1;
  }
  int b_off[RB], b_ki[RB], b_kj[RB];
#pragma unroll
  for (int r = 0; r < RB; ++r) {
    const int k = n0 + q + 32 * r;
    const int ci = k / taps, rest = k - ci * taps, ki = rest / p.kw, kj = rest - ki * p.kw;
    b_off[r] = ci * plane + ki * p.W + kj;
    b_ki[r] = k < K ? ki : INT_MIN / 2;  // a column past K reads far outside the image: zero
    b_kj[r] = kj;
  }
  // This thread's pixel, as digits (image, oh, ow), advanced kBK a step.
  Digits px = digits_of(s0 * kBK + kk, p.OH, p.OW);
  const Digits step = digits_of(kBK, p.OH, p.OW);

  // Starts the copies of one step's panels into `stage`, then moves on to
  // the next step's pixel.
  auto gather = [&](int stage) {
    const bool ok = px.c < p.batch;
    const int dy_base = px.c * (p.Cout * opix) + px.a * p.OW + px.b;
#pragma unroll
    for (int r = 0; r < RA; ++r)
      if (BM % 32 == 0 || q + 32 * r < BM)  // thin tiles: only the threads of the tile's rows
        copy_or_zero(&As[stage][kk][q + 32 * r], p.dy + dy_base + a_ch[r], p.dy, ok && a_ch[r] >= 0);
    const int row0 = px.a * p.stride - p.pad, col0 = px.b * p.stride - p.pad;
    const int x_base = px.c * (p.C * plane) + row0 * p.W + col0;
#pragma unroll
    for (int r = 0; r < RB; ++r) {
      const int row = row0 + b_ki[r], col = col0 + b_kj[r];
      const bool inside = ok && unsigned(row) < unsigned(p.H) && unsigned(col) < unsigned(p.W);
      if (BN % 32 == 0 || q + 32 * r < BN) copy_or_zero(&Bs[stage][kk][q + 32 * r], p.x + x_base + b_off[r], p.x, inside);
    }
    advance(px, step, p.OH, p.OW);
  };

  typename TileT::Acc acc = {};

  // The three-panel pipeline of kernels/conv.cu, over this split's steps.
  const int steps = s1 - s0;
  if (steps > 0) gather(0);
  commit_copies();
  if (steps > 1) gather(1);
  commit_copies();
  for (int s = 0; s < steps; ++s) {
    wait_copies<1>();
    __syncthreads();
    if (s + 2 < steps) gather((s + 2) % kStages);
    commit_copies();
    conv_mma::panel_step<TileT>(As[s % kStages], Bs[s % kStages], t, acc);
  }

  float* out = p.out + size_t(blockIdx.z) * p.Cout * K;
  if constexpr (TileT::kMma) {
    const int warp = t / 32, lane = t % 32;
#pragma unroll
    for (int i = 0; i < TileT::MT; ++i)
#pragma unroll
      for (int j = 0; j < TileT::NT; ++j)
#pragma unroll
        for (int r = 0; r < 4; ++r) {
          const int co = m0 + conv_mma::acc_row<TileT>(warp, lane, i, r), k = n0 + conv_mma::acc_col<TileT>(warp, lane, j, r);
          if (co < p.Cout && k < K) out[co * K + k] = acc[i][j][r];
        }
  } else {
    constexpr int TM = TileT::TM, TN = TileT::TN;
    const int ty = t / TileT::Cols, tx = t % TileT::Cols;
#pragma unroll
    for (int i = 0; i < TM; ++i) {
      const int co = m0 + owned<BM, TM>(ty, i);
      if (co >= p.Cout) continue;
#pragma unroll
      for (int j = 0; j < TN; ++j) {
        const int k = n0 + owned<BN, TN>(tx, j);
        if (k < K) out[co * K + k] = acc[i][j];
      }
    }
  }
}

// out[e] = sum over z < splits of parts[z][e], in a fixed order: warp w of
// the block sums z = w, w + 8, ... in turn, then one thread adds the 8
// partial sums in warp order.
__global__ void __launch_bounds__(256) sum_splits(const float* parts, float* out, int count, int splits) {
  __shared__ float partial[8][33];
  const int lane = threadIdx.x, w = threadIdx.y, e = blockIdx.x * 32 + lane;
  float s = 0.0f;
  if (e < count) {
#pragma unroll 4
    for (int z = w; z < splits; z += 8) s += parts[size_t(z) * count + e];
  }
  partial[w][lane] = s;
  __syncthreads();
  if (w == 0 && e < count) {
    float total = partial[0][lane];
#pragma unroll
    for (int i = 1; i < 8; ++i) total += partial[i][lane];
    out[e] = total;
  }
}

struct Plan {
  bool tf32;
  int bm, bn;
  int splits, steps_per_split;
};

// tf32 when asked for and the matrix is wide enough both ways for an mma
// tile (the one-channel layers stay fp32).
bool uses_tensor_cores(const ConvGeometry& g, const ConvTuning& tune) {
  return tune.math == ConvMath::tf32 && g.c_out > 16 && g.c_in * g.kh * g.kw > 16;
}

// The tile: rows (Cout) of 4, 32, 64 or 128, columns (Cin*kh*kw) of 16, 32
// or 128, the smallest that covers the matrix (thin layers: Cout = 1, or one
// input channel); then the split of the reduction.
Plan plan(const ConvGeometry& g, const ConvTuning& tune) {
  const int64_t rows = g.c_out, cols = g.c_in * g.kh * g.kw;
  const int64_t steps = (g.batch * g.h_out * g.w_out + kBK - 1) / kBK;
  Plan pl{};
  pl.tf32 = uses_tensor_cores(g, tune);
  if (pl.tf32) {  // 64 or 128 each way, the smallest that covers the matrix
    pl.bm = tune.tile_m ? tune.tile_m : rows <= 64 ? 64 : 128;
    pl.bn = tune.tile_n ? tune.tile_n : cols <= 64 ? 64 : 128;
  } else {
    pl.bm = tune.tile_m ? tune.tile_m : rows <= 4 ? 4 : rows <= 32 ? 32 : rows <= 64 ? 64 : 128;
    pl.bn = tune.tile_n ? tune.tile_n : pl.bm == 4 ? 128 : cols <= 16 ? 16 : cols <= 32 ? 32 : 128;
    if (!tune.tile_m && pl.bn != 128 && pl.bm == 128) pl.bm = 64;  // the thin column tiles come 32 or 64 high
  }
  const int64_t tiles = ceil_div(rows, pl.bm) * int64_t(ceil_div(cols, pl.bn));
  int64_t splits = tune.splits ? tune.splits
                               : std::min((kTargetBlocks + tiles - 1) / tiles,
                                          std::max<int64_t>(1, steps / kMinStepsPerSplit));
  splits = std::clamp<int64_t>(splits, 1, std::max<int64_t>(1, std::min<int64_t>(steps, 65535)));
  pl.steps_per_split = int((steps + splits - 1) / splits);
  pl.splits = steps > 0 ? int((steps + pl.steps_per_split - 1) / pl.steps_per_split) : 1;  // none empty
  return pl;
}

template <class TileT>
void launch_tile(const WgradGemm& p, int splits, cudaStream_t stream) {
  const dim3 grid(unsigned(ceil_div(p.Cout, TileT::BM)), unsigned(ceil_div(int64_t(p.C) * p.kh * p.kw, TileT::BN)),
                  unsigned(splits));
  conv_wgrad_gemm<TileT><<<grid, kThreads, 0, stream>>>(p);
  NG_CHECK_LAUNCH("conv_wgrad_gemm");
}

}  // namespace

size_t weight_grad_workspace_f32(const ConvGeometry& g, const ConvTuning& tune) {
  const Plan pl = plan(g, tune);
  return pl.splits > 1 ? size_t(pl.splits) * size_t(g.c_out * g.c_in * g.kh * g.kw) * sizeof(float) : 0;
}

void weight_grad_f32(const ConvGeometry& g, float* dw, const float* x, const float* dy, float* workspace,
                     cudaStream_t stream, const ConvTuning& tune) {
  if (g.batch * g.h_out * g.w_out == 0) {  // an empty reduction: dw = 0 (and the kernel would divide by 0)
    NG_CUDA_CHECK(cudaMemsetAsync(dw, 0, size_t(g.c_out * g.c_in * g.kh * g.kw) * sizeof(float), stream));
    return;
  }
  const Plan pl = plan(g, tune);
  if (pl.splits > 1 && !workspace)
    throw std::invalid_argument("conv2d_weight_grad: a split reduction needs a workspace of " +
                                std::to_string(weight_grad_workspace_f32(g, tune)) + " bytes, got none");
  WgradGemm p{};
  p.x = x, p.dy = dy, p.out = pl.splits > 1 ? workspace : dw;
  p.batch = int(g.batch), p.C = int(g.c_in), p.H = int(g.h), p.W = int(g.w);
  p.Cout = int(g.c_out), p.OH = int(g.h_out), p.OW = int(g.w_out);
  p.kh = int(g.kh), p.kw = int(g.kw), p.stride = int(g.stride), p.pad = int(g.padding);
  p.steps_per_split = pl.steps_per_split;
  const int bm = pl.bm, bn = pl.bn;
  const auto run = [&](auto tile) { launch_tile<decltype(tile)>(p, pl.splits, stream); };
  if (pl.tf32) {
    if (bm == 128 && bn == 128) run(conv_mma::MmaTile<128, 128>{});
    else if (bm == 128 && bn == 64) run(conv_mma::MmaTile<128, 64>{});
    else if (bm == 64 && bn == 128) run(conv_mma::MmaTile<64, 128>{});
    else if (bm == 64 && bn == 64) run(conv_mma::MmaTile<64, 64>{});
    else
      throw std::invalid_argument("conv2d_weight_grad: no " + std::to_string(bm) + "x" + std::to_string(bn) +
                                  " tf32 tile (64 or 128 x 64 or 128)");
  } else if (bm == 128 && bn == 128) run(Tile<128, 128, 8, 8>{});
  else if (bm == 64 && bn == 128) run(Tile<64, 128, 4, 8>{});
  else if (bm == 32 && bn == 128) run(Tile<32, 128, 2, 8>{});
  else if (bm == 64 && bn == 32) run(Tile<64, 32, 4, 2>{});
  else if (bm == 32 && bn == 32) run(Tile<32, 32, 2, 2>{});
  else if (bm == 64 && bn == 16) run(Tile<64, 16, 4, 1>{});
  else if (bm == 32 && bn == 16) run(Tile<32, 16, 2, 1>{});
  else if (bm == 4 && bn == 128) run(Tile<4, 128, 1, 2>{});
  else
    throw std::invalid_argument("conv2d_weight_grad: no " + std::to_string(bm) + "x" + std::to_string(bn) +
                                " tile (32, 64 or 128 x 128; 32 or 64 x 32 or 16; 4x128)");
  if (pl.splits > 1) {
    const int count = int(g.c_out * g.c_in * g.kh * g.kw);
    sum_splits<<<unsigned(ceil_div(count, 32)), dim3(32, 8), 0, stream>>>(workspace, dw, count, pl.splits);
    NG_CHECK_LAUNCH("sum_splits");
  }
}

}  // namespace ng::kernels::conv_impl
