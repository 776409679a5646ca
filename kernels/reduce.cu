// Reductions over any dims, any strides (see reduce.h for the strategies).
//
// Sums accumulate in double, whatever the element type: the CPU twin does
// the same, so a float32 GPU sum is the CPU's to within the last bit of the
// float result; and the cost is nil on a GPU with real FP64 (an H100 adds
// doubles at ~30 Tops/s; at 3.35 TB/s a float32 sum needs 0.84 G adds/ms,
// a few percent of that). Max and min compare in the element type (exact).
#include <cmath>
#include <cstdint>

#include "kernels/cuda_check.h"
#include "kernels/reduce.h"
#include "kernels/warp_reduce.cuh"

namespace ng::kernels {

namespace {

constexpr int kBlock = 256;
// Three blocks of 256 threads per SM: with __launch_bounds__(256) alone,
// nvcc 13 caps these kernels at 64 registers and spills 64-bit index
// arithmetic; allowing three blocks (up to 85 registers) spills nothing and
// keeps 768 threads an SM, each with four loads in flight.
constexpr int kMinBlocksPerSM = 3;
constexpr int64_t kTargetThreads = int64_t(1) << 17;  // ~ what keeps an H100 (132 SMs) busy
constexpr int64_t kMinPerThread = 16;                 // elements per thread below which a split is not worth it
constexpr int64_t kMaxChunks = 1024;
constexpr int64_t kMaxBlocks = int64_t(1) << 24;  // grid-stride loops cover the rest

template <class T>
struct SumOp {
  using Acc = double;
  __device__ static Acc identity() { return 0.0; }
  __device__ static Acc add(Acc a, T x) { return a + Acc(x); }
  __device__ static Acc merge(Acc a, Acc b) { return a + b; }
};

template <class T, bool kMax>
struct ExtremumOp {
  using Acc = T;
  __device__ static Acc identity() { return kMax ? -T(INFINITY) : T(INFINITY); }
  // A NaN wins, as on the CPU (and in PyTorch): once acc is NaN no
  // comparison is true, so it stays NaN.
  __device__ static Acc add(Acc a, T x) { return (x != x || (kMax ? x > a : x < a)) ? x : a; }
  __device__ static Acc merge(Acc a, Acc b) { return add(a, b); }
};

// Op::merge as a function object, for the warp and block trees.
template <class Op>
struct MergeFn {
  __device__ typename Op::Acc operator()(typename Op::Acc a, typename Op::Acc b) const { return Op::merge(a, b); }
};

// Element offsets (input and output) of output number o: o is split into
// kept-dim indices, innermost fastest; the outermost takes the quotient left.
__device__ __forceinline__ void kept_offsets(const ReduceGeometry& g, int64_t o, int64_t& in_off, int64_t& out_off) {
  in_off = 0;
  out_off = 0;
  for (int d = g.kept_ndim - 1; d > 0; --d) {
    const int64_t q = o / g.kept_shape[d], i = o - q * g.kept_shape[d];
    in_off += i * g.kept_in[d];
    out_off += i * g.kept_out[d];
    o = q;
  }
  in_off += o * g.kept_in[0];
  out_off += o * g.kept_out[0];
}

// Walks reduction indices j, j + step, ... of one output. The reduction is
// seen as rows (the outer reduced dims) of `inner` elements (the innermost
// reduced dim); the cursor keeps (row, position in row) and the row's offset.
// The step is split once into whole rows and a remainder, so moving on costs
// additions only (divisions happen when the cursor is placed, and in
// row_offset for the rare reduction over three or more unmergeable dims).
struct Cursor {
  int64_t r, i, base;
  int64_t step_rows, step_rem;  // step = step_rows * inner + step_rem
};

__device__ __forceinline__ int64_t row_offset(const ReduceGeometry& g, int64_t r) {
  int64_t off = 0;
  for (int d = g.red_ndim - 2; d > 0; --d) {
    const int64_t q = r / g.red_shape[d];
    off += (r - q * g.red_shape[d]) * g.red_in[d];
    r = q;
  }
  if (g.red_ndim >= 2) off += r * g.red_in[0];
  return off;
}

__device__ __forceinline__ Cursor cursor_at(const ReduceGeometry& g, int64_t j, int64_t step) {
  const int64_t inner = g.red_shape[g.red_ndim - 1];
  Cursor c;
  c.r = j / inner;
  c.i = j - c.r * inner;
  c.step_rows = step / inner;
  c.step_rem = step - c.step_rows * inner;
  c.base = row_offset(g, c.r);
  return c;
}

__device__ __forceinline__ int64_t offset_of(const ReduceGeometry& g, const Cursor& c) {
  return c.base + c.i * g.red_in[g.red_ndim - 1];
}

__device__ __forceinline__ void advance(const ReduceGeometry& g, Cursor& c) {
  c.i += c.step_rem;
  c.r += c.step_rows;
  bool new_row = c.step_rows != 0;
  if (c.i >= g.red_shape[g.red_ndim - 1]) {
    c.i -= g.red_shape[g.red_ndim - 1];
    ++c.r;
    new_row = true;
  }
  if (new_row) c.base = row_offset(g, c.r);  // past the last row only when the walk is over: never dereferenced
}

// One thread's share of a reduction: elements j, j + step, ... below end of
// the reduction whose first element is src. Four loads are issued before
// they are added, to keep several memory requests in flight.
template <class Op, class T>
__device__ __forceinline__ typename Op::Acc accumulate(const ReduceGeometry& g, const T* __restrict__ src, int64_t j,
                                                       int64_t end, int64_t step) {
  typename Op::Acc acc = Op::identity();
  if (j >= end) return acc;
  if (g.red_ndim == 1) {  // one reduced dim: the offset is j * stride
    const int64_t st = g.red_in[0];
    for (; j + 3 * step < end; j += 4 * step) {
      const T a = src[j * st], b = src[(j + step) * st], c = src[(j + 2 * step) * st], d = src[(j + 3 * step) * st];
      acc = Op::add(Op::add(Op::add(Op::add(acc, a), b), c), d);
    }
    for (; j < end; j += step) acc = Op::add(acc, src[j * st]);
    return acc;
  }
  Cursor cur = cursor_at(g, j, step);
  for (; j + 3 * step < end; j += 4 * step) {
    int64_t off[4];
#pragma unroll
    for (int u = 0; u < 4; ++u) {
      off[u] = offset_of(g, cur);
      advance(g, cur);
    }
    const T a = src[off[0]], b = src[off[1]], c = src[off[2]], d = src[off[3]];
    acc = Op::add(Op::add(Op::add(Op::add(acc, a), b), c), d);
  }
  for (; j < end; j += step) {
    acc = Op::add(acc, src[offset_of(g, cur)]);
    advance(g, cur);
  }
  return acc;
}

__device__ __forceinline__ void chunk_range(const ReduceGeometry& g, int64_t chunks, int64_t c, int64_t& begin,
                                            int64_t& end) {
  const int64_t len = (g.n_red + chunks - 1) / chunks;
  begin = c * len;
  end = begin + len < g.n_red ? begin + len : g.n_red;
}

// Rows: a group of kGroup threads (a warp or the whole block) per work item,
// an item being (output o, chunk c). Lanes stride through the item's range,
// then the group's tree merges them.
template <class T, class Op, int kGroup>
__global__ void __launch_bounds__(kBlock, kMinBlocksPerSM)
    reduce_rows(ReduceGeometry g, int64_t chunks, T* __restrict__ out, const T* __restrict__ in,
                typename Op::Acc* __restrict__ partial) {
  using Acc = typename Op::Acc;
  __shared__ Acc smem[32];
  constexpr int kGroupsPerBlock = kBlock / kGroup;
  const int lane = threadIdx.x % kGroup, group = threadIdx.x / kGroup;
  const int64_t items = g.n_out * chunks;
  const MergeFn<Op> merge{};
  // The loop bound depends on the block only, so every thread runs the same
  // iterations and meets the same shuffles and barriers.
  for (int64_t first = int64_t(blockIdx.x) * kGroupsPerBlock; first < items;
       first += int64_t(gridDim.x) * kGroupsPerBlock) {
    const int64_t item = first + group;
    Acc acc = Op::identity();
    int64_t in_off = 0, out_off = 0;
    if (item < items) {
      const int64_t o = item / chunks, c = item - o * chunks;
      int64_t begin, end;
      chunk_range(g, chunks, c, begin, end);
      kept_offsets(g, o, in_off, out_off);
      acc = accumulate<Op>(g, in + in_off, begin + lane, end, kGroup);
    }
    if constexpr (kGroup == 32)
      acc = warp_reduce(acc, merge);
    else
      acc = block_reduce(acc, smem, Op::identity(), merge);
    if (lane == 0 && item < items) {
      if (chunks == 1)
        out[out_off] = T(acc);
      else
        partial[item] = acc;  // item = o * chunks + c
    }
  }
}

// Columns: blockDim = (bx, by). Thread x of a block owns output
// tile * bx + x (neighbouring outputs, neighbouring addresses); the by
// threads of a column split its range of chunk blockIdx.y, and are merged in
// y order through shared memory.
template <class T, class Op>
__global__ void __launch_bounds__(kBlock, kMinBlocksPerSM)
    reduce_columns(ReduceGeometry g, int64_t chunks, T* __restrict__ out, const T* __restrict__ in,
                   typename Op::Acc* __restrict__ partial) {
  using Acc = typename Op::Acc;
  __shared__ Acc smem[kBlock];
  const int bx = blockDim.x, by = blockDim.y, tx = threadIdx.x, ty = threadIdx.y;
  const int64_t c = blockIdx.y;
  int64_t begin, end;
  chunk_range(g, chunks, c, begin, end);
  for (int64_t tile = blockIdx.x; tile * bx < g.n_out; tile += gridDim.x) {
    const int64_t o = tile * bx + tx;
    Acc acc = Op::identity();
    int64_t in_off = 0, out_off = 0;
    if (o < g.n_out) {
      kept_offsets(g, o, in_off, out_off);
      acc = accumulate<Op>(g, in + in_off, begin + ty, end, by);
    }
    if (by > 1) {
      smem[ty * bx + tx] = acc;
      __syncthreads();
      if (ty == 0)
        for (int y = 1; y < by; ++y) acc = Op::merge(acc, smem[y * bx + tx]);
      __syncthreads();
    }
    if (ty == 0 && o < g.n_out) {
      if (chunks == 1)
        out[out_off] = T(acc);
      else
        partial[o * chunks + c] = acc;
    }
  }
}

// Second pass of a split: a warp per output merges its chunks' partial
// results (lanes stride over chunks in order, then the warp tree).
template <class T, class Op>
__global__ void __launch_bounds__(kBlock, kMinBlocksPerSM)
    reduce_finish(ReduceGeometry g, int64_t chunks, T* __restrict__ out, const typename Op::Acc* __restrict__ partial) {
  using Acc = typename Op::Acc;
  constexpr int kWarps = kBlock / 32;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const MergeFn<Op> merge{};
  for (int64_t first = int64_t(blockIdx.x) * kWarps; first < g.n_out; first += int64_t(gridDim.x) * kWarps) {
    const int64_t o = first + warp;
    if (o >= g.n_out) break;  // uniform across the warp
    Acc acc = Op::identity();
    for (int64_t c = lane; c < chunks; c += 32) acc = Op::merge(acc, partial[o * chunks + c]);
    acc = warp_reduce(acc, merge);
    if (lane == 0) {
      int64_t in_off, out_off;
      kept_offsets(g, o, in_off, out_off);
      out[out_off] = T(acc);
    }
  }
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t clamp64(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : (v > hi ? hi : v); }
unsigned grid_for(int64_t blocks) { return unsigned(clamp64(blocks, 1, kMaxBlocks)); }

// How many chunks to cut each reduction into so that about kTargetThreads
// threads have work, while every thread still reduces kMinPerThread elements.
int64_t chunks_for(int64_t busy_threads, int64_t n_red, int64_t threads_per_item) {
  if (busy_threads >= kTargetThreads) return 1;
  const int64_t wanted = ceil_div(kTargetThreads, busy_threads);
  const int64_t worth = n_red / (threads_per_item * kMinPerThread);
  return clamp64(wanted < worth ? wanted : worth, 1, kMaxChunks);
}

template <class T, class Op>
void run(T* out, const T* in, const ReduceGeometry& g, const ReducePlan& p, void* workspace, cudaStream_t s) {
  using Acc = typename Op::Acc;
  Acc* partial = static_cast<Acc*>(workspace);
  if (p.strategy == ReduceStrategy::rows) {
    const int64_t items = g.n_out * p.chunks;
    if (p.group == 32) {
      reduce_rows<T, Op, 32><<<grid_for(ceil_div(items, kBlock / 32)), kBlock, 0, s>>>(g, p.chunks, out, in, partial);
      NG_CHECK_LAUNCH("reduce_rows<32>");
    } else {
      reduce_rows<T, Op, kBlock><<<grid_for(items), kBlock, 0, s>>>(g, p.chunks, out, in, partial);
      NG_CHECK_LAUNCH("reduce_rows<256>");
    }
  } else {
    const dim3 block(unsigned(kBlock / p.group), unsigned(p.group));
    const dim3 grid(grid_for(ceil_div(g.n_out, block.x)), unsigned(p.chunks));
    reduce_columns<T, Op><<<grid, block, 0, s>>>(g, p.chunks, out, in, partial);
    NG_CHECK_LAUNCH("reduce_columns");
  }
  if (p.chunks > 1) {
    reduce_finish<T, Op><<<grid_for(ceil_div(g.n_out, kBlock / 32)), kBlock, 0, s>>>(g, p.chunks, out, partial);
    NG_CHECK_LAUNCH("reduce_finish");
  }
}

template <class T>
void run_op(ReduceOp op, void* out, const void* in, const ReduceGeometry& g, const ReducePlan& p, void* ws,
            cudaStream_t s) {
  T* o = static_cast<T*>(out);
  const T* i = static_cast<const T*>(in);
  switch (op) {
    case ReduceOp::sum: run<T, SumOp<T>>(o, i, g, p, ws, s); break;
    case ReduceOp::max: run<T, ExtremumOp<T, true>>(o, i, g, p, ws, s); break;
    case ReduceOp::min: run<T, ExtremumOp<T, false>>(o, i, g, p, ws, s); break;
  }
}

}  // namespace

ReducePlan plan_reduce(ReduceOp op, ScalarType t, const ReduceGeometry& g) {
  ReducePlan p;
  const int64_t red_stride = g.red_in[g.red_ndim - 1];
  const int64_t kept_stride = g.kept_in[g.kept_ndim - 1], kept_extent = g.kept_shape[g.kept_ndim - 1];
  const bool tiny = g.n_red <= 32;
  // Neighbouring outputs adjacent in memory while the reduction is strided:
  // a thread per output reads coalesced; a group per output would not.
  const bool column_layout = kept_stride == 1 && kept_extent >= 16 && red_stride != 1;
  if (tiny || column_layout) {
    p.strategy = ReduceStrategy::columns;
    p.group = tiny ? 1 : 8;
    const int64_t tiles = ceil_div(g.n_out, kBlock / p.group);
    p.chunks = tiny ? 1 : chunks_for(tiles * kBlock, g.n_red, p.group);
  } else {
    p.strategy = ReduceStrategy::rows;
    p.group = g.n_red >= 4096 ? kBlock : 32;
    p.chunks = chunks_for(g.n_out * p.group, g.n_red, p.group);
  }
  if (p.chunks > 1) {
    const size_t acc_bytes = op == ReduceOp::sum ? sizeof(double) : (t == ScalarType::f32 ? 4 : 8);
    p.workspace_bytes = size_t(g.n_out) * size_t(p.chunks) * acc_bytes;
  }
  return p;
}

void launch_reduce(ReduceOp op, ScalarType t, void* out, const void* in, const ReduceGeometry& g,
                   const ReducePlan& plan, void* workspace, cudaStream_t stream) {
  if (g.n_out == 0) return;
  if (t == ScalarType::f32)
    run_op<float>(op, out, in, g, plan, workspace, stream);
  else
    run_op<double>(op, out, in, g, plan, workspace, stream);
}

}  // namespace ng::kernels
