#include "engine/cpu/pointwise.h"

#include <algorithm>
#include <cmath>

#include "engine/cpu/loops.h"
#include "engine/cpu/vector_math.h"
#include "engine/error.h"

namespace ng::cpu {

using kernels::Binary;
using kernels::Unary;

Shape broadcast_strides(const Tensor& t, const Shape& shape) {
  Shape st(shape.size(), 0);
  const int64_t lead = int64_t(shape.size()) - t.dim();
  for (int64_t d = 0; d < t.dim(); ++d)
    if (t.shape()[d] != 1) st[d + lead] = t.strides()[d];
  return st;
}

namespace {

// (exp itself stays on the scalar path: the fused VAE and diffusion kernels
// compute their exponentials with the same libm call, and their tests hold
// them to the bits of the composite ops.)
bool is_transcendental(Unary op) {
  switch (op) {
    case Unary::tanh: case Unary::sigmoid: case Unary::silu: case Unary::silu_grad:
    case Unary::softplus: case Unary::log_sigmoid:
      return true;
    default:
      return false;
  }
}

// The logistic family and tanh on one block of at most kSpanBlock contiguous
// elements: the exponentials (or tanh) in one vectorised call
// (engine/cpu/vector_math.h), then the op's formula from kernels/pointwise.h
// on each element. An element's result depends on that element alone, so not
// on how an array is cut into blocks or shared among threads.
constexpr int64_t kSpanBlock = 2048;

template <class T>
void transcendental_block(Unary op, T* yb, const T* xb, int64_t len) {
  if (op == Unary::tanh) {
    tanh_array(xb, yb, len);
    return;
  }
  T e[kSpanBlock];  // exp(-|x|), then log1p of it for softplus and log_sigmoid
  for (int64_t i = 0; i < len; ++i) e[i] = -std::fabs(xb[i]);
  exp_array(e, e, len);
  if (op == Unary::softplus || op == Unary::log_sigmoid) log1p_array(e, e, len);
  // One loop per op, without branches, so that the compiler vectorises it.
  auto each = [&](auto f) {
    for (int64_t i = 0; i < len; ++i) yb[i] = f(xb[i], e[i]);
  };
  switch (op) {
    case Unary::sigmoid: each([](T v, T ev) { return kernels::sigmoid_of(v, ev); }); break;
    case Unary::silu: each([](T v, T ev) { return v * kernels::sigmoid_of(v, ev); }); break;
    case Unary::silu_grad:
      each([](T v, T ev) { return kernels::silu_grad_of(v, kernels::sigmoid_of(v, ev)); });
      break;
    case Unary::softplus: each([](T v, T l) { return kernels::softplus_of(v, l); }); break;
    default: each([](T v, T l) { return -kernels::softplus_of(-v, l); }); break;  // log_sigmoid = -softplus(-x)
  }
}

// A whole contiguous array, its blocks in parallel.
template <class T>
void transcendental(Unary op, T* y, const T* x, int64_t n) {
  const int64_t blocks = (n + kSpanBlock - 1) / kSpanBlock;
#pragma omp parallel for schedule(static) if (blocks > 1)
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t start = b * kSpanBlock;
    transcendental_block(op, y + start, x + start, std::min(kSpanBlock, n - start));
  }
}

template <class T>
void transcendental_serial(Unary op, T* y, const T* x, int64_t n) {
  for (int64_t start = 0; start < n; start += kSpanBlock)
    transcendental_block(op, y + start, x + start, std::min(kSpanBlock, n - start));
}

}  // namespace

void transcendental_span(Unary op, float* y, const float* x, int64_t n) {
  NG_CHECK(is_transcendental(op), "transcendental_span: not tanh or a logistic-family op");
  transcendental_serial(op, y, x, n);
}
void transcendental_span(Unary op, double* y, const double* x, int64_t n) {
  NG_CHECK(is_transcendental(op), "transcendental_span: not tanh or a logistic-family op");
  transcendental_serial(op, y, x, n);
}

void unary(Unary op, const Tensor& out, const Tensor& a, double p0, double p1) {
  dispatch_float(out.dtype(), [&]<class T>() {
    // Every layout takes the vectorised path (a strided input is gathered
    // first), so an element's bits do not depend on how it is stored.
    if (is_transcendental(op) && out.shape() == a.shape()) {
      const Tensor in = a.contiguous();
      if (out.is_contiguous()) {
        transcendental<T>(op, out.data<T>(), in.data<T>(), out.numel());
      } else {
        const Tensor dst = empty(out.shape(), out.options());
        transcendental<T>(op, dst.data<T>(), in.data<T>(), out.numel());
        Tensor(out).copy_(dst);
      }
      return;
    }
    const T q0 = T(p0), q1 = T(p1);
    if (op == Unary::leaky_relu && q0 > T(0) && q0 <= T(1)) {
      // For a slope in (0, 1], x > 0 ? x : x * slope is the larger of x and
      // x * slope, bit for bit (the product keeps the sign of a zero or an
      // infinite x; a NaN x fails the comparison and comes through). As a
      // select the loop vectorises; the branch form stays scalar (GCC will
      // not make the multiply inside the branch unconditional) on a sign
      // test that mispredicts half the time: 15 ms of a 192 ms GAN step.
      map<T>(out, [q0](T x) { const T scaled = x * q0; return scaled > x ? scaled : x; }, a);
      return;
    }
    switch (op) {
#define NG_CASE(name)                                                                              \
  case Unary::name:                                                                                \
    map<T>(out, [q0, q1](T x) { return kernels::unary_fn<Unary::name, T>(x, q0, q1); }, a); \
    break;
      NG_UNARY_OPS(NG_CASE)
#undef NG_CASE
    }
  });
}

void binary(Binary op, const Tensor& out, const Tensor& a, const Tensor& b) {
  dispatch_float(out.dtype(), [&]<class T>() {
    switch (op) {
#define NG_CASE(name)                                                                       \
  case Binary::name:                                                                        \
    map<T>(out, [](T x, T y) { return kernels::binary_fn<Binary::name, T>(x, y); }, a, b); \
    break;
      NG_BINARY_OPS(NG_CASE)
#undef NG_CASE
    }
  });
}

void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  dispatch_float(out.dtype(), [&]<class T>() {
    map<T>(out, [](T c, T x, T y) { return kernels::where_fn(c, x, y); }, cond, a, b);
  });
}

}  // namespace ng::cpu
