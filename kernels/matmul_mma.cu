// GEMM on tensor cores (sm_80+): float32 operands rounded to tf32 or bf16,
// multiplied by mma.sync, accumulated in fp32.
//
// Block: a 128x128 output tile, 256 threads = 8 warps as 2 (M) x 4 (N), each
// warp a 64x32 tile = 4 x 4 mma tiles of 16x8, 64 fp32 accumulators a thread.
// K is walked 32 at a time through a 3-stage cp.async pipeline: while the
// warps multiply stage s, the copies of the next two tiles are in flight.
//
// The tiles sit in shared memory as float32 in the operand's own layout
// (k-contiguous rows [mn][k], or mn-contiguous rows [k][mn]), so the copy is
// a straight 16-byte cp.async with no transposition; the fragment loads read
// whichever layout it is, and convert: cvt.rna.tf32.f32 (round to nearest,
// ties away) for tf32, cvt.rn.bf16x2.f32 for bf16. Each layout's row pad
// makes its fragment loads free of bank conflicts (see TileLayout).
//
// The mma.sync fragment layouts the loads below follow: kernels/mma.cuh.
#include <mutex>

#include "kernels/cuda_check.h"
#include "kernels/matmul_tiles.cuh"
#include "kernels/mma.cuh"

namespace ng::kernels::gemm_detail {

namespace {

constexpr int BM = kMmaTileM, BN = kMmaTileN, BK = kMmaTileK;
constexpr int kStages = 3;
constexpr int kThreads = 256;
constexpr int kWarpM = 64, kWarpN = 32;  // a warp's output tile
constexpr int kMTiles = kWarpM / 16, kNTiles = kWarpN / 8;
static_assert(BM == BN, "A and B tiles share one shape");
static_assert(2 * kWarpM == BM && 4 * kWarpN == BN, "8 warps cover the block tile");

// One operand tile in shared memory (floats). k-contiguous: BM rows of BK
// (+ pad); mn-contiguous: BK rows of BM (+ pad). The pads, in floats mod 32
// banks, make every fragment load of a warp hit 32 distinct banks:
//   tf32 [mn][k]: word g*ld + t        -> ld = 4 (mod 32): banks 4g + t
//   tf32 [k][mn]: word t*ld + g        -> ld = 8 (mod 32): banks 8t + g
//   bf16 [mn][k]: 8-byte word pair g*ld + 2t, per half-warp -> ld = 8 (mod 32)
//   bf16 [k][mn]: words 2t*ld + g and (2t+1)*ld + g          -> ld = 4 (mod 32)
// Every ld is a multiple of 4 floats, so 16-byte cp.async stays aligned.
template <GemmMath MATH, bool KCONTIG>
struct TileLayout {
  static constexpr bool kTf32 = MATH == GemmMath::tf32;
  static constexpr int kLd = KCONTIG ? BK + (kTf32 ? 4 : 8) : BM + (kTf32 ? 8 : 4);
  static constexpr int kRows = KCONTIG ? BM : BK;
  static constexpr int kSize = kRows * kLd;
  __device__ static constexpr int at(int mn, int k) { return KCONTIG ? mn * kLd + k : k * kLd + mn; }
};

template <GemmMath MATH, bool A_KCONTIG, bool B_KCONTIG>
constexpr size_t smem_bytes() {
  return size_t(kStages) * (TileLayout<MATH, A_KCONTIG>::kSize + TileLayout<MATH, B_KCONTIG>::kSize) * sizeof(float);
}

// ---- PTX wrappers ------------------------------------------------------------

__device__ __forceinline__ uint32_t smem_address(const void* p) {
  return uint32_t(__cvta_generic_to_shared(p));
}

// Copies src_bytes (0..16) from global src to shared dst and zero-fills the
// rest of the 16 bytes; both addresses 16-byte aligned. Bypasses L1 (.cg).
__device__ __forceinline__ void cp_async16(float* dst, const float* src, int src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_address(dst)), "l"(src),
               "r"(src_bytes));
}

// The same for one float (src_bytes 0 or 4): the unaligned path.
__device__ __forceinline__ void cp_async4(float* dst, const float* src, int src_bytes) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(smem_address(dst)), "l"(src),
               "r"(src_bytes));
}

__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }

// Waits until at most `kPending` of this thread's committed groups are in flight.
template <int kPending>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending) : "memory");
}

// ---- tiles -------------------------------------------------------------------

// Copies one operand tile a K-step into shared memory: BM x BK floats as
// 1024 chunks of 4 (16 bytes), 4 chunks a thread, rows `o` and contiguous
// columns `c` as the operand is stored (o = mn, c = k when k-contiguous;
// o = k, c = mn otherwise). Everything outside [0, o_end) x [0, c_end) is
// zero-filled by cp.async itself (src_bytes < 16). A thread's 4 chunks are
// kPassRows tile rows apart, so it carries one source pointer and two ints.
template <GemmMath MATH, bool KCONTIG>
struct TileCopier {
  using L = TileLayout<MATH, KCONTIG>;
  static constexpr int kChunksPerRow = (KCONTIG ? BK : BM) / 4;
  static constexpr int kPassRows = kThreads / kChunksPerRow;
  static constexpr int kPasses = L::kRows / kPassRows;
  static_assert(kPasses * kPassRows == L::kRows, "whole chunks per thread");

  const float* src;  // the thread's first chunk in the current K-step
  int o, c;          // its row and column coordinates in the operand

  __device__ __forceinline__ TileCopier(const float* x, int64_t ld, int mn0, int k0) {
    const int r = int(threadIdx.x) / kChunksPerRow, col = int(threadIdx.x) % kChunksPerRow * 4;
    o = (KCONTIG ? mn0 : k0) + r;
    c = (KCONTIG ? k0 : mn0) + col;
    src = x + int64_t(o) * ld + c;
  }

  // `tile` is the stage to fill; `fallback` a valid, 16-byte aligned global
  // address for the chunks that read nothing.
  __device__ __forceinline__ void copy(float* tile, int64_t ld, int o_end, int c_end, bool vec,
                                       const float* fallback) const {
    const int r = int(threadIdx.x) / kChunksPerRow, col = int(threadIdx.x) % kChunksPerRow * 4;
    float* dst = tile + r * L::kLd + col;
    const int width = max(0, min(4, c_end - c));
#pragma unroll
    for (int i = 0; i < kPasses; ++i) {
      const float* s = src + int64_t(i * kPassRows) * ld;
      float* d = dst + i * kPassRows * L::kLd;
      const int n = o + i * kPassRows < o_end ? width : 0;
      if (vec) {
        cp_async16(d, n > 0 ? s : fallback, 4 * n);
      } else {
#pragma unroll
        for (int j = 0; j < 4; ++j) cp_async4(d + j, j < n ? s + j : fallback, j < n ? 4 : 0);
      }
    }
  }

  __device__ __forceinline__ void advance(int64_t ld) {
    if constexpr (KCONTIG) {
      c += BK;
      src += BK;
    } else {
      o += BK;
      src += BK * ld;
    }
  }
};

// bf16 pair X(mn, k), X(mn, k + 1) from a tile, in one register.
template <GemmMath MATH, bool KCONTIG>
__device__ __forceinline__ uint32_t bf16_pair(const float* tile, int mn, int k) {
  using L = TileLayout<MATH, KCONTIG>;
  if constexpr (KCONTIG) {
    const float2 v = *reinterpret_cast<const float2*>(tile + L::at(mn, k));
    return to_bf16x2(v.x, v.y);
  } else {
    return to_bf16x2(tile[L::at(mn, k)], tile[L::at(mn, k + 1)]);
  }
}

// A fragment of the 16-row strip at `row`, k-step at `ks` (layouts above).
template <GemmMath MATH, bool KCONTIG>
__device__ __forceinline__ void load_a(uint32_t (&a)[4], const float* tile, int row, int ks, int g, int t) {
  using L = TileLayout<MATH, KCONTIG>;
  if constexpr (MATH == GemmMath::tf32) {
    a[0] = to_tf32(tile[L::at(row + g, ks + t)]);
    a[1] = to_tf32(tile[L::at(row + g + 8, ks + t)]);
    a[2] = to_tf32(tile[L::at(row + g, ks + t + 4)]);
    a[3] = to_tf32(tile[L::at(row + g + 8, ks + t + 4)]);
  } else {
    a[0] = bf16_pair<MATH, KCONTIG>(tile, row + g, ks + 2 * t);
    a[1] = bf16_pair<MATH, KCONTIG>(tile, row + g + 8, ks + 2 * t);
    a[2] = bf16_pair<MATH, KCONTIG>(tile, row + g, ks + 2 * t + 8);
    a[3] = bf16_pair<MATH, KCONTIG>(tile, row + g + 8, ks + 2 * t + 8);
  }
}

// B fragment of the 8-column strip at `col` (B's tile is indexed (n, k)).
template <GemmMath MATH, bool KCONTIG>
__device__ __forceinline__ void load_b(uint32_t (&b)[2], const float* tile, int col, int ks, int g, int t) {
  using L = TileLayout<MATH, KCONTIG>;
  if constexpr (MATH == GemmMath::tf32) {
    b[0] = to_tf32(tile[L::at(col + g, ks + t)]);
    b[1] = to_tf32(tile[L::at(col + g, ks + t + 4)]);
  } else {
    b[0] = bf16_pair<MATH, KCONTIG>(tile, col + g, ks + 2 * t);
    b[1] = bf16_pair<MATH, KCONTIG>(tile, col + g, ks + 2 * t + 8);
  }
}

// ---- the kernel ------------------------------------------------------------------

template <GemmMath MATH, bool A_KCONTIG, bool B_KCONTIG>
__global__ void __launch_bounds__(kThreads, 2) gemm_mma(const GemmArgs<float> p) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  using LA = TileLayout<MATH, A_KCONTIG>;
  using LB = TileLayout<MATH, B_KCONTIG>;
  constexpr int kStep = MATH == GemmMath::tf32 ? 8 : 16;  // K of one mma
  extern __shared__ __align__(16) float smem[];
  float* const sa = smem;                       // kStages A tiles,
  float* const sb = smem + kStages * LA::kSize;  // then kStages B tiles

  const BlockTask<float> task = block_task<float, BM, BN>(p);
  const int warp = int(threadIdx.x) / 32, lane = int(threadIdx.x) % 32;
  const int g = lane / 4, t = lane % 4;
  const int wm = (warp / 4) * kWarpM, wn = (warp % 4) * kWarpN;

  float acc[kMTiles][kNTiles][4];
#pragma unroll
  for (int i = 0; i < kMTiles; ++i)
#pragma unroll
    for (int j = 0; j < kNTiles; ++j)
#pragma unroll
      for (int r = 0; r < 4; ++r) acc[i][j][r] = 0.f;

  const int ktiles = task.k_hi > task.k_lo ? (task.k_hi - task.k_lo + BK - 1) / BK : 0;
  TileCopier<MATH, A_KCONTIG> ca(task.a, p.lda, task.m0, task.k_lo);
  TileCopier<MATH, B_KCONTIG> cb(task.b, p.ldb, task.n0, task.k_lo);
  // Queues the next K-step's copies into `stage`. Bounds: (o_end, c_end) is
  // (M or N, k_hi) for a k-contiguous operand and (k_hi, M or N) otherwise.
  const auto issue = [&](int stage) {
    ca.copy(sa + stage * LA::kSize, p.lda, A_KCONTIG ? p.m : task.k_hi, A_KCONTIG ? task.k_hi : p.m, p.vec_a, p.a);
    cb.copy(sb + stage * LB::kSize, p.ldb, B_KCONTIG ? p.n : task.k_hi, B_KCONTIG ? task.k_hi : p.n, p.vec_b, p.b);
    ca.advance(p.lda);
    cb.advance(p.ldb);
  };

  // Prologue: K-steps 0 .. kStages-2 in flight, one commit group each (empty
  // groups keep the count uniform when there are fewer steps).
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < ktiles) issue(s);
    cp_async_commit();
  }
  int read_stage = 0, write_stage = kStages - 1;
  for (int kt = 0; kt < ktiles; ++kt) {
    // kStages - 1 + kt groups are committed; all but the newest kStages - 2
    // done means tile kt has landed (for this thread's copies) ...
    cp_async_wait<kStages - 2>();
    // ... and for everyone's; also, every warp has finished tile kt - 1,
    // whose stage the next issue overwrites.
    __syncthreads();
    if (kt + kStages - 1 < ktiles) issue(write_stage);
    cp_async_commit();

    const float* ta = sa + read_stage * LA::kSize;
    const float* tb = sb + read_stage * LB::kSize;
#pragma unroll
    for (int ks = 0; ks < BK; ks += kStep) {
      uint32_t bf[kNTiles][2];
#pragma unroll
      for (int j = 0; j < kNTiles; ++j) load_b<MATH, B_KCONTIG>(bf[j], tb, wn + 8 * j, ks, g, t);
#pragma unroll
      for (int i = 0; i < kMTiles; ++i) {
        uint32_t af[4];
        load_a<MATH, A_KCONTIG>(af, ta, wm + 16 * i, ks, g, t);
#pragma unroll
        for (int j = 0; j < kNTiles; ++j) {
          if constexpr (MATH == GemmMath::tf32)
            mma_tf32(acc[i][j], af, bf[j]);
          else
            mma_bf16(acc[i][j], af, bf[j]);
        }
      }
    }
    read_stage = read_stage == kStages - 1 ? 0 : read_stage + 1;
    write_stage = write_stage == kStages - 1 ? 0 : write_stage + 1;
  }

  // Epilogue: each thread holds pairs of adjacent columns in rows g and g + 8
  // of every mma tile.
  const bool vec_c = p.c_align >= 2;
#pragma unroll
  for (int i = 0; i < kMTiles; ++i) {
    const int row = task.m0 + wm + 16 * i + g;
#pragma unroll
    for (int j = 0; j < kNTiles; ++j) {
      const int col = task.n0 + wn + 8 * j + 2 * t;
      const int count = min(2, p.n - col);
      if (row < p.m) store2(task.c + int64_t(row) * p.ldc + col, acc[i][j][0], acc[i][j][1], count, p.beta, vec_c);
      if (row + 8 < p.m)
        store2(task.c + int64_t(row + 8) * p.ldc + col, acc[i][j][2], acc[i][j][3], count, p.beta, vec_c);
    }
  }
#else
  __trap();  // launch_gemm refuses tensor-core math below sm_80
#endif
}

// Raises one kernel's dynamic shared-memory limit (above the default 48 KB)
// once per device. The "done" flags must belong to the kernel, not to its
// type: every gemm_mma instantiation has the same function type, so flags
// kept per type let the first instantiation launched mark all the others
// done, and their launches then fail with "invalid argument".
template <GemmMath MATH, bool A_KCONTIG, bool B_KCONTIG>
void allow_smem(size_t bytes) {
  static std::mutex mutex;
  static uint64_t done = 0;  // bit d: done on device d
  int dev = 0;
  NG_CUDA_CHECK(cudaGetDevice(&dev));
  std::lock_guard<std::mutex> lock(mutex);
  const uint64_t bit = dev < 64 ? uint64_t(1) << dev : 0;
  if (bit && (done & bit)) return;
  NG_CUDA_CHECK(cudaFuncSetAttribute(gemm_mma<MATH, A_KCONTIG, B_KCONTIG>,
                                     cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)));
  done |= bit;
}

template <GemmMath MATH, bool A_KCONTIG, bool B_KCONTIG>
void run(const GemmArgs<float>& p, dim3 grid, cudaStream_t stream) {
  constexpr size_t bytes = smem_bytes<MATH, A_KCONTIG, B_KCONTIG>();
  allow_smem<MATH, A_KCONTIG, B_KCONTIG>(bytes);
  gemm_mma<MATH, A_KCONTIG, B_KCONTIG><<<grid, kThreads, bytes, stream>>>(p);
  NG_CHECK_LAUNCH("gemm_mma");
}

template <GemmMath MATH>
void run_layouts(const GemmArgs<float>& p, bool a_kcontig, bool b_kcontig, dim3 grid, cudaStream_t stream) {
  if (a_kcontig && b_kcontig) run<MATH, true, true>(p, grid, stream);
  else if (a_kcontig) run<MATH, true, false>(p, grid, stream);
  else if (b_kcontig) run<MATH, false, true>(p, grid, stream);
  else run<MATH, false, false>(p, grid, stream);
}

}  // namespace

void launch_mma(const GemmArgs<float>& p, GemmMath math, bool a_kcontig, bool b_kcontig, dim3 grid,
                cudaStream_t stream) {
  if (math == GemmMath::tf32)
    run_layouts<GemmMath::tf32>(p, a_kcontig, b_kcontig, grid, stream);
  else
    run_layouts<GemmMath::bf16>(p, a_kcontig, b_kcontig, grid, stream);
}

}  // namespace ng::kernels::gemm_detail
