// The CPU backend's elementwise engine: one strided, broadcasting loop that
// every pointwise op (add, exp, where, copy, ...) is written with.
//
// A loop over N operands is planned once: each operand's strides are
// broadcast to the output shape (stride 0 along broadcast dims), then
// adjacent dims that are contiguous for every operand are merged, so a
// contiguous tensor becomes one long row. The innermost dim is run as a tight
// loop; rows are spread over OpenMP threads when there is enough work.
#pragma once

#include <omp.h>

#include <array>
#include <cstdint>
#include <utility>

#include "engine/error.h"
#include "engine/tensor.h"

namespace ng::cpu {

// Calls f.template operator()<T>() with T = float or double.
template <class F>
decltype(auto) dispatch_float(DType dtype, F&& f) {
  if (dtype == DType::f32) return f.template operator()<float>();
  return f.template operator()<double>();
}

// Strides of `t` viewed at the (broadcast) `shape`; 0 where t is broadcast.
Shape broadcast_strides(const Tensor& t, const Shape& shape);

template <size_t N>
struct LoopPlan {
  Shape shape;                   // merged dims, outermost first; never empty
  std::array<Shape, N> strides;  // per operand, in elements
};

template <size_t N>
LoopPlan<N> plan_loop(const Shape& shape, const std::array<Shape, N>& strides) {
  LoopPlan<N> p;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;  // size-1 dims carry no iteration
    const bool merge = !p.shape.empty() && [&] {
      for (size_t k = 0; k < N; ++k)
        if (p.strides[k].back() != strides[k][d] * shape[d]) return false;
      return true;
    }();
    if (merge) {
      p.shape.back() *= shape[d];
      for (size_t k = 0; k < N; ++k) p.strides[k].back() = strides[k][d];
    } else {
      p.shape.push_back(shape[d]);
      for (size_t k = 0; k < N; ++k) p.strides[k].push_back(strides[k][d]);
    }
  }
  if (p.shape.empty()) {  // a single element
    p.shape.push_back(1);
    for (size_t k = 0; k < N; ++k) p.strides[k].push_back(0);
  }
  return p;
}

// Runs row(offsets, n, inner_strides) over every innermost row of the plan,
// where offsets[k] is operand k's element offset at the row's start.
template <size_t N, class Row>
void for_each_row(const LoopPlan<N>& p, Row&& row, bool allow_threads = true) {
  const int64_t nd = int64_t(p.shape.size());
  const int64_t inner = p.shape.back();
  int64_t rows = 1;
  for (int64_t d = 0; d + 1 < nd; ++d) rows *= p.shape[d];
  std::array<int64_t, N> inner_strides;
  for (size_t k = 0; k < N; ++k) inner_strides[k] = p.strides[k].back();

  auto row_offsets = [&](int64_t r) {
    std::array<int64_t, N> off{};
    for (int64_t d = nd - 2; d >= 0; --d) {
      const int64_t i = r % p.shape[d];
      r /= p.shape[d];
      for (size_t k = 0; k < N; ++k) off[k] += i * p.strides[k][d];
    }
    return off;
  };

  constexpr int64_t kGrain = 1 << 15;  // elements below which threads cost more than they save
  const int64_t total = rows * inner;
  if (!allow_threads || total < kGrain || omp_get_max_threads() == 1 || omp_in_parallel()) {
    for (int64_t r = 0; r < rows; ++r) row(row_offsets(r), inner, inner_strides);
  } else if (rows >= omp_get_max_threads()) {
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r) row(row_offsets(r), inner, inner_strides);
  } else {  // few long rows: split each row into chunks
    const int64_t chunk = kGrain;
    const int64_t chunks_per_row = (inner + chunk - 1) / chunk;
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < rows * chunks_per_row; ++c) {
      const int64_t r = c / chunks_per_row, start = (c % chunks_per_row) * chunk;
      std::array<int64_t, N> off = row_offsets(r);
      for (size_t k = 0; k < N; ++k) off[k] += start * inner_strides[k];
      row(off, std::min(chunk, inner - start), inner_strides);
    }
  }
}

// out[i] = f(in0[i], in1[i], ...) with broadcasting; every operand has
// element type T and `out` has the broadcast shape.
template <class T, class F, class... In>
void map(const Tensor& out, F f, const In&... in) {
  constexpr size_t N = 1 + sizeof...(In);
  const Shape& shape = out.shape();
  const LoopPlan<N> plan = plan_loop<N>(shape, {out.strides(), broadcast_strides(in, shape)...});
  T* o = out.data<T>();
  const std::array<const T*, N - 1> ptrs{in.template data<T>()...};
  for_each_row(plan, [&](const std::array<int64_t, N>& off, int64_t n,
                         const std::array<int64_t, N>& st) {
    T* po = o + off[0];
    // A copy of f whose address never escapes: the loop may then keep its
    // captured scalars (a slope, a bound) in registers. Reached through a
    // reference, they could alias the T stores in the compiler's eyes, and
    // the loop stayed scalar, reloading them every element.
    const F fn = f;
    [&]<size_t... K>(std::index_sequence<K...>) {
      std::array<const T*, N - 1> p{(ptrs[K] + off[K + 1])...};
      if (((st[0] == 1) && ... && (st[K + 1] == 1))) {  // all contiguous: let it vectorise
        for (int64_t i = 0; i < n; ++i) po[i] = fn(p[K][i]...);
      } else {
        for (int64_t i = 0; i < n; ++i) po[i * st[0]] = fn(p[K][i * st[K + 1]]...);
      }
    }(std::make_index_sequence<N - 1>{});
  });
}

}  // namespace ng::cpu
