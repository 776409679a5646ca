#include "engine/cpu/reduce.h"

#include <limits>
#include <vector>

#include "engine/cpu/loops.h"

namespace ng::cpu {

namespace {

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
    // Rows run in parallel when allowed; partial accumulators are merged.
    const int64_t nd = int64_t(red.shape.size()), inner = red.shape.back(), st = red.strides[0].back();
    const int64_t rows = n_red / std::max<int64_t>(inner, 1);
    auto row_acc = [&](int64_t r) {
      int64_t off = 0;
      for (int64_t d = nd - 2; d >= 0; --d) {
        off += (r % red.shape[d]) * red.strides[0][d];
        r /= red.shape[d];
      }
      Acc a;
      const T* p = base + off;
      if (st == 1)
        for (int64_t i = 0; i < inner; ++i) a.add(double(p[i]));
      else
        for (int64_t i = 0; i < inner; ++i) a.add(double(p[i * st]));
      return a;
    };
    Acc total;
    if (threads && n_red >= (1 << 15) && rows > 1) {
      // Each thread reduces a fixed (static) block of rows; the partial
      // results are merged in thread order, so the sum is the same bits on
      // every run with the same thread count.
      std::vector<Acc> partial(static_cast<size_t>(omp_get_max_threads()));
#pragma omp parallel
      {
        Acc local;
#pragma omp for schedule(static)
        for (int64_t r = 0; r < rows; ++r) local.merge(row_acc(r));
        partial[size_t(omp_get_thread_num())] = local;
      }
      for (const Acc& a : partial) total.merge(a);
    } else {
      for (int64_t r = 0; r < rows; ++r) total.merge(row_acc(r));
    }
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

void reduce(Reduce op, const Tensor& out, const Tensor& in, const std::vector<bool>& reduced) {
  dispatch_float(in.dtype(), [&]<class T>() {
    switch (op) {
      case Reduce::sum: run<T, SumAcc>(out, in, reduced); break;
      case Reduce::max: run<T, ExtremumAcc<true>>(out, in, reduced); break;
      case Reduce::min: run<T, ExtremumAcc<false>>(out, in, reduced); break;
    }
  });
}

}  // namespace ng::cpu
