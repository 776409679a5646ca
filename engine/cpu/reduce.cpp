#include "engine/cpu/reduce.h"

#include <algorithm>
#include <limits>
#include <vector>

#include "engine/cpu/loops.h"

namespace ng::cpu {

namespace {

// Elements summed in one block of a long reduction (see reduce_block).
constexpr int64_t kBlockElements = int64_t(1) << 14;

struct SumAcc {
  double v = 0;
  void add(double x) { v += x; }
  void merge(const SumAcc& o) { v += o.v; }
};

template <bool kMax>
struct ExtremumAcc {
  double v = kMax ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
  void add(double x) {  // NaN wins, as in PyTorch
    if (x != x || (kMax ? x > v : x < v)) v = x;
  }
  void merge(const ExtremumAcc& o) { add(o.v); }
};

template <class T, class Acc>
void run(const Tensor& out, const Tensor& in, const std::vector<bool>& reduced) {
  Shape kept_shape, kept_in, kept_out, red_shape, red_in;
  for (int64_t d = 0; d < in.dim(); ++d) {
    if (reduced[d]) {
      red_shape.push_back(in.shape()[d]);
      red_in.push_back(in.strides()[d]);
    } else {
      kept_shape.push_back(in.shape()[d]);
      kept_in.push_back(in.strides()[d]);
      kept_out.push_back(out.strides()[d]);
    }
  }
  const LoopPlan<1> red = plan_loop<1>(red_shape, {red_in});
  const int64_t n_out = shape_numel(kept_shape), n_red = shape_numel(red_shape);
  const T* src = in.data<T>();
  T* dst = out.data<T>();

  auto reduce_block = [&](const T* base, bool threads) {
    const int64_t nd = int64_t(red.shape.size()), inner = red.shape.back(), st = red.strides[0].back();
    const int64_t rows = n_red / std::max<int64_t>(inner, 1);
    // Elements [i0, i1) of row r.
    auto row_acc = [&](int64_t r, int64_t i0, int64_t i1) {
      int64_t off = 0;
      for (int64_t d = nd - 2; d >= 0; --d) {
        off += (r % red.shape[d]) * red.strides[0][d];
        r /= red.shape[d];
      }
      Acc a;
      const T* p = base + off;
      if (st == 1)
        for (int64_t i = i0; i < i1; ++i) a.add(double(p[i]));
      else
        for (int64_t i = i0; i < i1; ++i) a.add(double(p[i * st]));
      return a;
    };
    // The elements are summed in blocks of about kBlockElements (whole rows,
    // or pieces of one long row), cut by the shape alone, and the blocks'
    // results are merged in block order: the same bits whether the blocks
    // run on one thread or on many.
    const bool long_rows = inner > kBlockElements;
    const int64_t pieces = long_rows ? (inner + kBlockElements - 1) / kBlockElements : 1;
    const int64_t block_rows = long_rows ? 1 : std::max<int64_t>(1, kBlockElements / std::max<int64_t>(inner, 1));
    const int64_t blocks = long_rows ? rows * pieces : (rows + block_rows - 1) / block_rows;
    auto block_acc = [&](int64_t b) {
      if (long_rows) {
        const int64_t r = b / pieces, i0 = (b % pieces) * kBlockElements;
        return row_acc(r, i0, std::min(inner, i0 + kBlockElements));
      }
      Acc a;
      for (int64_t r = b * block_rows; r < std::min(rows, (b + 1) * block_rows); ++r) a.merge(row_acc(r, 0, inner));
      return a;
    };
    if (blocks <= 1) return block_acc(0).v;
    std::vector<Acc> partial(static_cast<size_t>(blocks));
#pragma omp parallel for schedule(static) if (threads)
    for (int64_t b = 0; b < blocks; ++b) partial[size_t(b)] = block_acc(b);
    Acc total;
    for (const Acc& a : partial) total.merge(a);
    return total.v;
  };

  auto offsets = [&](int64_t o) {
    int64_t oi = 0, oo = 0;
    for (int64_t d = int64_t(kept_shape.size()) - 1; d >= 0; --d) {
      const int64_t i = o % kept_shape[d];
      o /= kept_shape[d];
      oi += i * kept_in[d];
      oo += i * kept_out[d];
    }
    return std::pair{oi, oo};
  };

  if (n_out >= omp_get_max_threads() && n_out * n_red >= (1 << 15)) {
#pragma omp parallel for schedule(static)
    for (int64_t o = 0; o < n_out; ++o) {
      const auto [oi, oo] = offsets(o);
      dst[oo] = T(reduce_block(src + oi, false));
    }
  } else {
    for (int64_t o = 0; o < n_out; ++o) {
      const auto [oi, oo] = offsets(o);
      dst[oo] = T(reduce_block(src + oi, true));
    }
  }
}

}  // namespace

void reduce(kernels::ReduceOp op, const Tensor& out, const Tensor& in, const std::vector<bool>& reduced) {
  dispatch_float(in.dtype(), [&]<class T>() {
    switch (op) {
      case kernels::ReduceOp::sum: run<T, SumAcc>(out, in, reduced); break;
      case kernels::ReduceOp::max: run<T, ExtremumAcc<true>>(out, in, reduced); break;
      case kernels::ReduceOp::min: run<T, ExtremumAcc<false>>(out, in, reduced); break;
    }
  });
}

}  // namespace ng::cpu
