#include "engine/cpu/random.h"

#include "engine/cpu/loops.h"
#include "engine/cpu/philox_blocks.h"
#include "engine/error.h"
#include "kernels/philox.h"

namespace ng::cpu {

using kernels::PhiloxWords;

namespace {

void check_contiguous(const char* op, const Tensor& t) {
  NG_CHECK(t.is_contiguous(), "cpu::", op, ": expected a contiguous output, got shape ", shape_str(t.shape()),
           " with strides ", shape_str(t.strides()));
}

}  // namespace

void uniform(const Tensor& out, uint64_t seed, uint64_t offset) {
  check_contiguous("uniform", out);
  dispatch_float(out.dtype(), [&]<class T>() {
    T* o = out.data<T>();
    for_each_philox_block(out.numel(), seed, offset, [o](const PhiloxWords& w, int64_t first, int count) {
      kernels::uniform4<T>(w, o + first, count);
    });
  });
}

void normal(const Tensor& out, uint64_t seed, uint64_t offset) {
  check_contiguous("normal", out);
  dispatch_float(out.dtype(), [&]<class T>() {
    T* o = out.data<T>();
    for_each_philox_block(out.numel(), seed, offset, [o](const PhiloxWords& w, int64_t first, int count) {
      kernels::normal4<T>(w, o + first, count);
    });
  });
}

void bernoulli(const Tensor& out, const Tensor& p, uint64_t seed, uint64_t offset) {
  check_contiguous("bernoulli", out);
  check_contiguous("bernoulli", p);
  dispatch_float(out.dtype(), [&]<class T>() {
    T* o = out.data<T>();
    const T* prob = p.data<T>();
    int64_t bad = 0;  // count of p outside [0, 1] (or NaN)
#pragma omp parallel for schedule(static) reduction(+ : bad) if (p.numel() >= (1 << 15))
    for (int64_t i = 0; i < p.numel(); ++i) bad += !(prob[i] >= T(0) && prob[i] <= T(1));
    NG_CHECK(bad == 0, "bernoulli: ", bad, " of the ", p.numel(), " probabilities in p ", shape_str(p.shape()),
             " are outside [0, 1]");
    for_each_philox_block(out.numel(), seed, offset, [o, prob](const PhiloxWords& w, int64_t first, int count) {
      T u[4];
      kernels::uniform4<T>(w, u, count);
      for (int k = 0; k < count; ++k) o[first + k] = u[k] < prob[first + k] ? T(1) : T(0);
    });
  });
}

void dropout_mask(const Tensor& keep, double p, uint64_t seed, uint64_t offset) {
  check_contiguous("dropout_mask", keep);
  dispatch_float(keep.dtype(), [&]<class T>() {
    T* o = keep.data<T>();
    const T drop_below = T(p);  // the same comparison as bernoulli(full(p))
    for_each_philox_block(keep.numel(), seed, offset, [o, drop_below](const PhiloxWords& w, int64_t first, int count) {
      T u[4];
      kernels::uniform4<T>(w, u, count);
      for (int k = 0; k < count; ++k) o[first + k] = u[k] < drop_below ? T(0) : T(1);
    });
  });
}

}  // namespace ng::cpu
