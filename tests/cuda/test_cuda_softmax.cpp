// CUDA softmax / log_softmax (kernels/softmax.cu) against the CPU twin:
// a warp per row, a block per row, a thread per line (inner > 1), forward and
// backward, NaN-poisoned outputs; then the ops and their gradients on GPU
// tensors.
//
// Tolerances: the GPU computes float32 in float32 (expf, a float sum), the
// CPU in double: outputs agree to 2e-6 relative (plus 1e-7 absolute for
// probabilities near 0, 2e-6 for log-probabilities, which carry
// log(sum) ~ a few units). float64 agrees to 1e-12.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "engine/cpu/softmax.h"
#include "support/cuda_twin.h"
#include "support/gradcheck.h"

using namespace ng;

namespace {

void expect_softmax_twin(const kernels::SoftmaxLayout& l, DType dt, uint64_t seed) {
  const Shape shape = {l.outer, l.D, l.inner};
  SCOPED_TRACE("layout [outer, D, inner] = " + shape_str(shape));
  const Tensor x = test::uniform(shape, seed, -6, 6, dt), g = test::uniform(shape, seed + 1, -1, 1, dt);
  const Tensor xg = x.to(test::gpu()), gg = g.to(test::gpu());
  const double tol = dt == DType::f32 ? 2e-6 : 1e-12;
  for (bool log : {false, true}) {
    SCOPED_TRACE(log ? "log_softmax" : "softmax");
    Tensor y = empty(shape, x.options());
    cpu::softmax_forward(l, x, y, log);
    Tensor y_gpu = test::poisoned(shape, dt);
    NG_CUDA_CALL(cuda::softmax_forward(l, xg, y_gpu, log));
    test::expect_close(y_gpu.to(Device::cpu()), y, log ? tol : tol / 20, tol);
    // The backward from the same y on both sides, so only the backward differs.
    Tensor gx = empty(shape, x.options());
    cpu::softmax_backward(l, g, y, gx, log);
    Tensor gx_gpu = test::poisoned(shape, dt);
    NG_CUDA_CALL(cuda::softmax_backward(l, gg, y.to(test::gpu()), gx_gpu, log));
    test::expect_close(gx_gpu.to(Device::cpu()), gx, tol, tol);
  }
}

}  // namespace

TEST(CudaSoftmax, KernelsMatchTheCpuOnEveryLayout) {
  NG_REQUIRE_GPU();
  const kernels::SoftmaxLayout layouts[] = {
      {1, 1, 1},      // one element
      {3, 7, 1},      // short rows: a thread per row
      {5, 49, 1},     // attention rows: a warp per row
      {37, 1024, 1},  // the longest warp rows
      {3, 3001, 1},   // a block per row
      {4, 33, 6},     // inner > 1: a thread per line
      {2, 5, 300},
      {1, 4000, 3},   // long lines along a strided dim
  };
  uint64_t seed = 20;
  for (DType dt : {DType::f32, DType::f64})
    for (const kernels::SoftmaxLayout& l : layouts) expect_softmax_twin(l, dt, seed += 2);
}

TEST(CudaSoftmax, ExtremeValuesStayFinite) {
  NG_REQUIRE_GPU();
  const float inf = std::numeric_limits<float>::infinity();
  // Huge logits (exp would overflow without the max), and -inf logits (probability 0).
  const Tensor x = from_vector(std::vector<float>{1000.f, -1000.f, 999.f, 0.f, -inf, 88.f, 89.f, -inf}, {2, 4});
  const Tensor y = softmax(x.to(test::gpu()), 1).to(Device::cpu());
  test::expect_close(y, softmax(x, 1), 1e-7, 1e-6);
  const std::vector<float> v = y.to_vector<float>();
  EXPECT_NEAR(v[0], 1.0f / (1.0f + std::exp(-1.0f)), 1e-6);
  EXPECT_EQ(v[4], 0.0f);
  test::expect_close(log_softmax(x.to(test::gpu()), 1).to(Device::cpu()), log_softmax(x, 1), 1e-5, 1e-6);
}

TEST(CudaSoftmax, OpsAndGradientsOnTheGpuMatchTheCpu) {
  NG_REQUIRE_GPU();
  // An attention-shaped tensor, softmax along each dim, and a non-contiguous input.
  const Tensor x = test::uniform({4, 49, 49}, 30, -4, 4, DType::f32);
  const Tensor r = test::uniform({4, 49, 49}, 31, -1, 1, DType::f32);
  for (int64_t dim : {0, 1, 2}) {
    SCOPED_TRACE("dim " + std::to_string(dim));
    for (bool transposed : {false, true}) {
      Tensor xc = x.clone().requires_grad_(), xg = x.to(test::gpu()).requires_grad_();
      auto input = [&](const Tensor& t) { return transposed ? t.transpose(1, 2) : t; };
      const Tensor rg = r.to(test::gpu());
      const Tensor lc = sum(softmax(input(xc), dim) * r) + sum(log_softmax(input(xc), dim) * r * 0.5);
      const Tensor lg = sum(softmax(input(xg), dim) * rg) + sum(log_softmax(input(xg), dim) * rg * 0.5);
      test::expect_close(lg.to(Device::cpu()), lc, 1e-4, 1e-5);
      lc.backward();
      lg.backward();
      test::expect_close(xg.grad().to(Device::cpu()), xc.grad(), 2e-6, 1e-5);
    }
  }
}
