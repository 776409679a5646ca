// GEMM on CUDA cores, and the planning shared by every GEMM kernel.
//
//  sgemm_simt   float32, exact fp32 FMAs. A 128x128 output tile per block of
//               256 threads, each thread an 8x8 register block; K walked in
//               steps of 8 through double-buffered shared memory.
//  dgemm_tiled  float64: 64x64 tiles, 4x4 per thread, no tricks (a reference).
//  splitk_sum   adds the split-K slices' partial products in a fixed order and
//               applies beta.
// The tensor-core kernels live in kernels/matmul_mma.cu.
#include <algorithm>
#include <climits>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cuda_check.h"
#include "kernels/matmul.h"
#include "kernels/matmul_tiles.cuh"

namespace ng::kernels {

namespace gemm_detail {
namespace {

// ---- SIMT SGEMM ------------------------------------------------------------
//
// Shared memory holds both tiles k-major, as[k][m] and bs[k][n], so that for
// each k a thread reads its 8 A values and 8 B values as 2 + 2 float4s. The
// thread at (ty, tx) of the 16x16 thread grid owns rows {4ty..4ty+3,
// 64+4ty..64+4ty+3} and the same pattern of columns with tx: in a warp the A
// reads are two broadcast addresses and the B reads 256 contiguous bytes,
// free of bank conflicts.
//
// Loading a tile (128 x 8 floats, 4 a thread): a k-contiguous operand is read
// as one float4 along k per thread (2 threads a row) and stored transposed;
// an mn-contiguous one as one float4 along mn (32 threads a k-row), stored as
// it is. The next tile's loads are issued into registers before the current
// tile's arithmetic, so their latency hides behind 512 FMAs a thread.
constexpr int kSimtM = 128, kSimtN = 128, kSimtK = 8, kSimtThreads = 256;
// Row pad of the k-major tiles: the transposing stores of a warp (16 rows x
// 2 k-groups) then land on 32 distinct banks, and rows stay 16-byte aligned.
constexpr int kSimtPad = 4;
using SimtTile = float[kSimtK][kSimtM + kSimtPad];
static_assert(kSimtM == kSimtN, "A and B tiles share one shape");

// One thread's share of a 128 x 8 operand tile: four elements along the
// operand's contiguous dim, read as one float4 where aligned. The state is a
// pointer and two ints, so that the 64 accumulators, the fragments and the
// prefetched tile fit in 128 registers without spilling.
template <bool KCONTIG>
struct SimtLoader {
  const float* ptr;  // the thread's first element in the current tile
  int k_left;        // k_end minus its k; k-contiguous rows outside M start at 0 (never read)
  int width;         // mn-contiguous: its elements inside N or M (0..4)

  __device__ __forceinline__ SimtLoader(const float* x, int64_t ld, int mn0, int mn_end, int k0, int k_end) {
    const int t = int(threadIdx.x);
    if constexpr (KCONTIG) {  // 2 threads a row, 4 k each
      const int mn = mn0 + (t >> 1), k = k0 + (t & 1) * 4;
      const bool inside = mn < mn_end;
      k_left = inside ? k_end - k : 0;
      width = 4;
      ptr = x + int64_t(inside ? mn : 0) * ld + k;
    } else {  // 32 threads a k-row, 4 mn each
      const int mn = mn0 + (t & 31) * 4, k = k0 + (t >> 5);
      k_left = k_end - k;
      width = max(0, min(4, mn_end - mn));
      ptr = x + int64_t(k) * ld + mn;
    }
  }

  // The four elements, zero where outside the matrix or past k_end.
  __device__ __forceinline__ float4 fetch(bool vec) const {
    const int count = KCONTIG ? max(0, min(4, k_left)) : (k_left > 0 ? width : 0);
    float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
    // Return before any load when there is nothing to read. Written as one
    // `if (vec && count == 4)` test in front, the H100 build loaded a whole
    // float4 in threads whose count was 0 (compute-sanitizer initcheck saw the
    // reads; the PTX was right), so a k-contiguous operand with K < 8 summed
    // the next row's elements into the product (tests/cuda: SmallK).
    if (count <= 0) return v;
    if (vec && count == 4) return __ldg(reinterpret_cast<const float4*>(ptr));
    v.x = __ldg(ptr);
    if (count > 1) v.y = __ldg(ptr + 1);
    if (count > 2) v.z = __ldg(ptr + 2);
    if (count > 3) v.w = __ldg(ptr + 3);
    return v;
  }

  // On to the next tile (a k-contiguous row outside M keeps k_left <= 0).
  __device__ __forceinline__ void advance(int64_t ld) {
    k_left -= kSimtK;
    ptr += KCONTIG ? int64_t(kSimtK) : kSimtK * ld;
  }
};

// Stores a fetched group into the k-major tile (transposed when k-contiguous).
template <bool KCONTIG>
__device__ __forceinline__ void simt_stash(SimtTile& tile, float4 v) {
  const int t = int(threadIdx.x);
  if constexpr (KCONTIG) {
    const int mn = t >> 1, k = (t & 1) * 4;
    tile[k][mn] = v.x;
    tile[k + 1][mn] = v.y;
    tile[k + 2][mn] = v.z;
    tile[k + 3][mn] = v.w;
  } else {
    *reinterpret_cast<float4*>(&tile[t >> 5][(t & 31) * 4]) = v;
  }
}

template <bool A_KCONTIG, bool B_KCONTIG>
__global__ void __launch_bounds__(kSimtThreads, 2) sgemm_simt(const GemmArgs<float> p) {
  __shared__ __align__(16) SimtTile as[2];
  __shared__ __align__(16) SimtTile bs[2];
  const BlockTask<float> task = block_task<float, kSimtM, kSimtN>(p);
  const int ty = int(threadIdx.x) / 16, tx = int(threadIdx.x) % 16;

  float acc[8][8];
#pragma unroll
  for (int i = 0; i < 8; ++i)
#pragma unroll
    for (int j = 0; j < 8; ++j) acc[i][j] = 0.f;

  const int tiles = task.k_hi > task.k_lo ? (task.k_hi - task.k_lo + kSimtK - 1) / kSimtK : 0;
  if (tiles > 0) {
    SimtLoader<A_KCONTIG> la(task.a, p.lda, task.m0, p.m, task.k_lo, task.k_hi);
    SimtLoader<B_KCONTIG> lb(task.b, p.ldb, task.n0, p.n, task.k_lo, task.k_hi);
    float4 ra = la.fetch(p.vec_a);
    float4 rb = lb.fetch(p.vec_b);
    simt_stash<A_KCONTIG>(as[0], ra);
    simt_stash<B_KCONTIG>(bs[0], rb);
    __syncthreads();
    for (int kt = 0; kt < tiles; ++kt) {
      const int cur = kt & 1;
      const bool more = kt + 1 < tiles;
      if (more) {  // next tile into registers; it is stored after the arithmetic
        la.advance(p.lda);
        lb.advance(p.ldb);
        ra = la.fetch(p.vec_a);
        rb = lb.fetch(p.vec_b);
      }
#pragma unroll
      for (int kk = 0; kk < kSimtK; ++kk) {
        const float4 a0 = *reinterpret_cast<const float4*>(&as[cur][kk][ty * 4]);
        const float4 a1 = *reinterpret_cast<const float4*>(&as[cur][kk][64 + ty * 4]);
        const float4 b0 = *reinterpret_cast<const float4*>(&bs[cur][kk][tx * 4]);
        const float4 b1 = *reinterpret_cast<const float4*>(&bs[cur][kk][64 + tx * 4]);
        const float av[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
        const float bv[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
        for (int i = 0; i < 8; ++i)
#pragma unroll
          for (int j = 0; j < 8; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
      }
      // The other buffer was last read in iteration kt - 1, which every
      // thread finished before the barrier that ended it.
      if (more) {
        simt_stash<A_KCONTIG>(as[cur ^ 1], ra);
        simt_stash<B_KCONTIG>(bs[cur ^ 1], rb);
      }
      __syncthreads();
    }
  }

  const bool vec_c = p.c_align == 4;
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const int row = task.m0 + (i < 4 ? ty * 4 + i : 64 + ty * 4 + (i - 4));
    if (row >= p.m) continue;
    float* crow = task.c + int64_t(row) * p.ldc;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int col = task.n0 + h * 64 + tx * 4;
      const float v[4] = {acc[i][h * 4], acc[i][h * 4 + 1], acc[i][h * 4 + 2], acc[i][h * 4 + 3]};
      store4(crow + col, v, min(4, p.n - col), p.beta, vec_c);
    }
  }
}

// ---- float64 ---------------------------------------------------------------
//
// The textbook shared-memory GEMM: 64x64 tiles, K in steps of 16, each of
// 256 threads an interleaved 4x4 block (rows ty + 16i, columns tx + 16j).
// Both layouts go through run-time index math: one kernel instead of four.
constexpr int kDgemmTile = 64, kDgemmK = 16, kDgemmThreads = 256;

// Element q of the (64 x 16) operand tile at (mn0, k0) into tile[k][mn];
// consecutive q walk the operand's contiguous dim (coalesced reads).
__device__ __forceinline__ void dgemm_fetch(double (*tile)[kDgemmTile + 1], const double* x, int64_t ld,
                                            bool kcontig, int q, int mn0, int mn_end, int k0, int k_end) {
  const int mn = kcontig ? q / kDgemmK : q % kDgemmTile;
  const int k = kcontig ? q % kDgemmK : q / kDgemmTile;
  const int gmn = mn0 + mn, gk = k0 + k;
  double v = 0.0;
  if (gmn < mn_end && gk < k_end) v = kcontig ? x[int64_t(gmn) * ld + gk] : x[int64_t(gk) * ld + gmn];
  tile[k][mn] = v;
}

__global__ void __launch_bounds__(kDgemmThreads) dgemm_tiled(const GemmArgs<double> p, bool a_kcontig,
                                                             bool b_kcontig) {
  __shared__ double as[kDgemmK][kDgemmTile + 1];
  __shared__ double bs[kDgemmK][kDgemmTile + 1];
  const BlockTask<double> task = block_task<double, kDgemmTile, kDgemmTile>(p);
  const int ty = int(threadIdx.x) / 16, tx = int(threadIdx.x) % 16;
  double acc[4][4] = {};
  for (int k0 = task.k_lo; k0 < task.k_hi; k0 += kDgemmK) {
    for (int q = int(threadIdx.x); q < kDgemmTile * kDgemmK; q += kDgemmThreads) {
      dgemm_fetch(as, task.a, p.lda, a_kcontig, q, task.m0, p.m, k0, task.k_hi);
      dgemm_fetch(bs, task.b, p.ldb, b_kcontig, q, task.n0, p.n, k0, task.k_hi);
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kDgemmK; ++kk)
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fma(as[kk][ty + 16 * i], bs[kk][tx + 16 * j], acc[i][j]);
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int row = task.m0 + ty + 16 * i;
    if (row >= p.m) continue;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int col = task.n0 + tx + 16 * j;
      if (col >= p.n) continue;
      double* out = task.c + int64_t(row) * p.ldc + col;
      *out = p.beta != 0.0 ? acc[i][j] + p.beta * *out : acc[i][j];
    }
  }
}

// ---- split-K reduction -----------------------------------------------------
//
// C = sum over slices of the partial products (dense [slices][batch][M][N] in
// the workspace, summed in slice order: the result does not depend on
// scheduling) + beta * C.
__global__ void splitk_sum(const float* ws, int splits, int64_t slice_stride, const GemmArgs<float> p,
                           int64_t total) {
  const int64_t mn = int64_t(p.m) * p.n;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
    float s = 0.f;
    for (int sl = 0; sl < splits; ++sl) s += ws[sl * slice_stride + e];
    int64_t oa, ob, oc;
    batch_offsets(p.batch, e / mn, oa, ob, oc);
    const int64_t r = (e % mn) / p.n, col = e % p.n;
    float* out = p.c + oc + r * p.ldc + col;
    *out = p.beta != 0.f ? s + p.beta * *out : s;
  }
}

}  // namespace
}  // namespace gemm_detail

// ---- planning and launch -----------------------------------------------------

namespace {

using namespace gemm_detail;

// Sizes the kernels index with 32-bit ints (with room for a tile of slack).
constexpr int64_t kMaxExtent = INT_MAX - 1024;
// Split-K: at least this much K a slice (below it the partial sums' traffic
// costs more than the parallelism gains), at most this many slices, and at
// most this much scratch.
constexpr int64_t kMinSliceK = 128;
constexpr int64_t kMaxSplits = 32;
constexpr size_t kMaxWorkspace = size_t(64) << 20;
constexpr int kMaxGridZ = 65535;

struct DeviceInfo {
  int sms = 0;
  int major = 0;
};

DeviceInfo device_info() {
  int dev = 0;
  NG_CUDA_CHECK(cudaGetDevice(&dev));
  static std::mutex mutex;
  static std::vector<DeviceInfo> cache;
  std::lock_guard<std::mutex> lock(mutex);
  if (size_t(dev) >= cache.size()) cache.resize(size_t(dev) + 1);
  DeviceInfo& info = cache[size_t(dev)];
  if (info.sms == 0) {
    NG_CUDA_CHECK(cudaDeviceGetAttribute(&info.sms, cudaDevAttrMultiProcessorCount, dev));
    NG_CUDA_CHECK(cudaDeviceGetAttribute(&info.major, cudaDevAttrComputeCapabilityMajor, dev));
  }
  return info;
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

struct Plan {
  int tile_m = 0, tile_n = 0, tile_k = 0;
  int64_t tiles_m = 0, tiles_n = 0, batches = 1;
  int64_t splits = 1, k_slice = 0;
  size_t workspace = 0;  // bytes of split-K partial sums
};

// Which kernel, how many tiles, and whether to split K: a problem whose
// output tiles cannot fill the GPU (the models' linear layers: a 128 x 256
// output and K = 3136 is 2 tiles) is cut along K into slices that run in
// parallel.
Plan plan_gemm(const GemmProblem& p, GemmMath math) {
  Plan pl;
  if (p.type == ScalarType::f64) {
    pl.tile_m = pl.tile_n = kDgemmTile;
    pl.tile_k = kDgemmK;
  } else if (math == GemmMath::fp32) {
    pl.tile_m = kSimtM;
    pl.tile_n = kSimtN;
    pl.tile_k = kSimtK;
  } else {
    pl.tile_m = kMmaTileM;
    pl.tile_n = kMmaTileN;
    pl.tile_k = kMmaTileK;
  }
  for (int d = 0; d < p.batch.ndim; ++d) pl.batches *= p.batch.shape[d];
  pl.tiles_m = ceil_div(p.m, pl.tile_m);
  pl.tiles_n = ceil_div(p.n, pl.tile_n);
  pl.k_slice = ceil_div(std::max<int64_t>(p.k, 1), pl.tile_k) * pl.tile_k;
  if (p.type != ScalarType::f32 || p.m == 0 || p.n == 0 || pl.batches == 0) return pl;

  const int64_t blocks = pl.tiles_m * pl.tiles_n * pl.batches;
  const int64_t sms = device_info().sms;
  if (blocks >= sms || p.k < 2 * kMinSliceK) return pl;
  int64_t splits = std::min({ceil_div(sms, blocks), p.k / kMinSliceK, kMaxSplits});
  const int64_t slice = ceil_div(ceil_div(p.k, splits), pl.tile_k) * pl.tile_k;
  splits = ceil_div(p.k, slice);  // no empty slice
  const size_t bytes = size_t(splits) * size_t(pl.batches) * size_t(p.m) * size_t(p.n) * sizeof(float);
  if (splits > 1 && bytes <= kMaxWorkspace) {
    pl.splits = splits;
    pl.k_slice = slice;
    pl.workspace = bytes;
  }
  return pl;
}

bool aligned(const void* ptr, size_t bytes) { return reinterpret_cast<uintptr_t>(ptr) % bytes == 0; }

bool multiples_of(const int64_t* strides, int ndim, int64_t q) {
  for (int d = 0; d < ndim; ++d)
    if (strides[d] % q != 0) return false;
  return true;
}

// The widest access (4, 2 or 1 elements) that every row start of C allows.
template <class T>
int c_alignment(const void* c, int64_t ldc, const GemmBatch& b) {
  for (int q : {4, 2})
    if (aligned(c, q * sizeof(T)) && ldc % q == 0 && multiples_of(b.stride_c, b.ndim, q)) return q;
  return 1;
}

template <class T>
GemmArgs<T> make_args(const GemmProblem& p, const Plan& pl) {
  GemmArgs<T> g;
  g.m = int(p.m);
  g.n = int(p.n);
  g.k = int(p.k);
  g.tiles_m = int(pl.tiles_m);
  g.tiles_n = int(pl.tiles_n);
  g.k_slice = int(pl.k_slice);
  g.splits = int(pl.splits);
  g.a = static_cast<const T*>(p.a);
  g.lda = p.lda;
  g.b = static_cast<const T*>(p.b);
  g.ldb = p.ldb;
  g.c = static_cast<T*>(p.c);
  g.ldc = p.ldc;
  g.beta = T(p.beta);
  g.vec_a = aligned(p.a, 16) && p.lda % 4 == 0 && multiples_of(p.batch.stride_a, p.batch.ndim, 4);
  g.vec_b = aligned(p.b, 16) && p.ldb % 4 == 0 && multiples_of(p.batch.stride_b, p.batch.ndim, 4);
  g.c_align = c_alignment<T>(p.c, p.ldc, p.batch);
  g.batch = p.batch;
  return g;
}

// Launches `kernel_for(args_with_z_base, grid)` over all (batch, slice)
// pairs, in chunks of at most 65535 in grid.z.
template <class T, class Launch>
void for_z_chunks(GemmArgs<T> g, int64_t pairs, int64_t tiles, Launch launch) {
  for (int64_t z0 = 0; z0 < pairs; z0 += kMaxGridZ) {
    g.z_base = z0;
    launch(g, dim3(unsigned(tiles), 1, unsigned(std::min<int64_t>(kMaxGridZ, pairs - z0))));
  }
}

void check_problem(const GemmProblem& p) {
  const auto fail = [&](const std::string& what) {
    throw std::runtime_error("launch_gemm: " + what + " (M=" + std::to_string(p.m) + ", N=" + std::to_string(p.n) +
                             ", K=" + std::to_string(p.k) + ")");
  };
  if (p.m < 0 || p.n < 0 || p.k < 0) fail("negative size");
  if (p.m > kMaxExtent || p.n > kMaxExtent || p.k > kMaxExtent) fail("a size exceeds the kernels' 32-bit indexing");
  if (p.batch.ndim < 0 || p.batch.ndim > kMaxDims) fail("more than 8 batch dims");
}

}  // namespace

size_t gemm_workspace_bytes(const GemmProblem& p, GemmMath math) {
  check_problem(p);
  return plan_gemm(p, math).workspace;
}

void launch_gemm(const GemmProblem& p, GemmMath math, void* workspace, size_t workspace_bytes, cudaStream_t stream) {
  check_problem(p);
  Plan pl = plan_gemm(p, math);
  if (p.m == 0 || p.n == 0 || pl.batches == 0) return;
  if (pl.splits > 1 && (workspace == nullptr || workspace_bytes < pl.workspace || !aligned(workspace, 16))) {
    pl.splits = 1;  // no room for the partial sums: one slice does all of K
    pl.k_slice = ceil_div(std::max<int64_t>(p.k, 1), pl.tile_k) * pl.tile_k;
  }
  const int64_t tiles = pl.tiles_m * pl.tiles_n;
  if (tiles > INT_MAX) throw std::runtime_error("launch_gemm: too many output tiles for one grid");

  if (p.type == ScalarType::f64) {
    const bool a_kcontig = !p.trans_a, b_kcontig = p.trans_b;
    for_z_chunks(make_args<double>(p, pl), pl.batches, tiles, [&](const GemmArgs<double>& g, dim3 grid) {
      dgemm_tiled<<<grid, kDgemmThreads, 0, stream>>>(g, a_kcontig, b_kcontig);
      NG_CHECK_LAUNCH("dgemm_tiled");
    });
    return;
  }

  if (math != GemmMath::fp32 && device_info().major < 8)
    throw std::runtime_error("launch_gemm: tf32/bf16 tensor-core GEMMs need a GPU of compute capability 8.0 or newer");
  GemmArgs<float> g = make_args<float>(p, pl);
  const GemmArgs<float> out = g;  // the real C, for the split-K sum
  if (pl.splits > 1) {
    // Each slice writes its partial product, densely, into the workspace.
    g.c = static_cast<float*>(workspace);
    g.ldc = p.n;
    g.beta = 0.f;
    g.c_slice_stride = pl.batches * p.m * p.n;
    g.c_align = p.n % 4 == 0 ? 4 : p.n % 2 == 0 ? 2 : 1;
    int64_t dense = p.m * p.n;
    for (int d = p.batch.ndim - 1; d >= 0; --d) {
      g.batch.stride_c[d] = dense;
      dense *= p.batch.shape[d];
    }
  }
  // k-contiguous operands: row-major A, transposed B (see matmul_tiles.cuh).
  const bool a_kcontig = !p.trans_a, b_kcontig = p.trans_b;
  for_z_chunks(g, pl.batches * pl.splits, tiles, [&](const GemmArgs<float>& gz, dim3 grid) {
    if (math == GemmMath::fp32) {
      if (a_kcontig && b_kcontig) sgemm_simt<true, true><<<grid, kSimtThreads, 0, stream>>>(gz);
      else if (a_kcontig) sgemm_simt<true, false><<<grid, kSimtThreads, 0, stream>>>(gz);
      else if (b_kcontig) sgemm_simt<false, true><<<grid, kSimtThreads, 0, stream>>>(gz);
      else sgemm_simt<false, false><<<grid, kSimtThreads, 0, stream>>>(gz);
      NG_CHECK_LAUNCH("sgemm_simt");
    } else {
      launch_mma(gz, math, a_kcontig, b_kcontig, grid, stream);
    }
  });
  if (pl.splits > 1) {
    const int64_t total = pl.batches * p.m * p.n;
    const int blocks = int(std::min<int64_t>(ceil_div(total, 256), 4096));
    splitk_sum<<<blocks, 256, 0, stream>>>(static_cast<const float*>(workspace), int(pl.splits),
                                           g.c_slice_stride, out, total);
    NG_CHECK_LAUNCH("splitk_sum");
  }
}

}  // namespace ng::kernels
