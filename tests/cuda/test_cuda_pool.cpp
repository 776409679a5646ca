// CUDA avg_pool2d, max_pool2d and upsample_nearest2d, forward and backward
// (kernels/pool.cu), against the CPU twins: strided inputs, padding, kernels
// larger than the stride and not dividing the image, NaN-poisoned outputs.
// The kernels add the same values in the same order as the CPU, with
// products rounded before the adds, so results are compared for equality
// (upsampling copies) or to one rounding (1e-6 relative, in case a host
// compiler contracts the CPU's multiply-adds).
#include <gtest/gtest.h>

#include <cmath>

#include "engine/cpu/pool.h"
#include "support/cuda_twin.h"
#include "support/gradcheck.h"

using namespace ng;

namespace {

struct PoolCase {
  Shape shape;
  int64_t kernel, stride, padding;
  bool channels_last;  // x stored NHWC and viewed as NCHW: every stride differs from the contiguous one
};

Tensor layout(const Tensor& t, bool channels_last) {
  return channels_last ? t.permute({0, 2, 3, 1}).contiguous().permute({0, 3, 1, 2}) : t;
}

}  // namespace

TEST(CudaPool, AvgPoolForwardAndBackwardMatchTheCpu) {
  NG_REQUIRE_GPU();
  const PoolCase cases[] = {
      {{2, 3, 9, 11}, 3, 2, 1, true}, {{1, 2, 8, 8}, 2, 2, 0, false}, {{3, 1, 7, 5}, 4, 1, 2, true},
      {{2, 2, 5, 6}, 1, 1, 0, false}, {{1, 3, 13, 4}, 3, 3, 1, true}, {{4, 5, 28, 28}, 2, 2, 0, false},
  };
  uint64_t seed = 90;
  for (DType dt : {DType::f32, DType::f64})
    for (const PoolCase& c : cases) {
      SCOPED_TRACE(shape_str(c.shape) + " kernel " + std::to_string(c.kernel) + " stride " +
                   std::to_string(c.stride) + " padding " + std::to_string(c.padding));
      const Tensor x = layout(test::uniform(c.shape, ++seed, -1, 1, dt), c.channels_last);
      const int64_t ho = (c.shape[2] + 2 * c.padding - c.kernel) / c.stride + 1;
      const int64_t wo = (c.shape[3] + 2 * c.padding - c.kernel) / c.stride + 1;
      const Shape out_shape = {c.shape[0], c.shape[1], ho, wo};
      Tensor want = empty(out_shape, x.options()), got = test::poisoned(out_shape, dt);
      cpu::avg_pool2d_forward(want, x, c.kernel, c.stride, c.padding);
      NG_CUDA_CALL(cuda::avg_pool2d_forward(got, layout(x.contiguous().to(test::gpu()), c.channels_last), c.kernel,
                                            c.stride, c.padding));
      test::expect_close(got.to(Device::cpu()), want, 0, 1e-6);

      const Tensor g = layout(test::uniform(out_shape, ++seed, -1, 1, dt), c.channels_last);
      Tensor dx = empty(c.shape, x.options()), dx_gpu = test::poisoned(c.shape, dt);
      cpu::avg_pool2d_backward(dx, g, c.kernel, c.stride, c.padding);
      NG_CUDA_CALL(cuda::avg_pool2d_backward(dx_gpu, layout(g.contiguous().to(test::gpu()), c.channels_last),
                                             c.kernel, c.stride, c.padding));
      test::expect_close(dx_gpu.to(Device::cpu()), dx, 0, 1e-6);
    }
}

// max_pool2d's pair: the selection is a copy and the scatter adds the same
// values in the same order as the CPU, so both are compared for equality,
// on inputs with ties (values on a coarse grid) and a NaN.
TEST(CudaPool, MaxPoolSelectAndScatterMatchTheCpu) {
  NG_REQUIRE_GPU();
  const PoolCase cases[] = {
      {{2, 3, 9, 11}, 3, 2, 1, true}, {{1, 2, 8, 8}, 2, 2, 0, false}, {{3, 1, 7, 5}, 4, 1, 2, true},
      {{2, 2, 5, 6}, 1, 1, 0, false}, {{1, 3, 13, 4}, 3, 3, 1, true}, {{4, 5, 28, 28}, 2, 2, 0, false},
  };
  uint64_t seed = 300;
  for (DType dt : {DType::f32, DType::f64})
    for (const PoolCase& c : cases) {
      SCOPED_TRACE(shape_str(c.shape) + " kernel " + std::to_string(c.kernel) + " stride " +
                   std::to_string(c.stride) + " padding " + std::to_string(c.padding));
      std::vector<double> whole = test::uniform(c.shape, ++seed, -3, 3).to_vector<double>();
      for (double& value : whole) value = std::round(value);  // ties everywhere
      Tensor grid = from_vector(whole, c.shape).to(dt);
      grid.narrow(3, 0, 1).narrow(2, 0, 1).fill_(std::nan(""));
      const Tensor x = layout(grid, c.channels_last);
      const Tensor v = layout(test::uniform(c.shape, ++seed, -1, 1, dt), !c.channels_last);
      const int64_t ho = (c.shape[2] + 2 * c.padding - c.kernel) / c.stride + 1;
      const int64_t wo = (c.shape[3] + 2 * c.padding - c.kernel) / c.stride + 1;
      const Shape out_shape = {c.shape[0], c.shape[1], ho, wo};
      Tensor want = empty(out_shape, x.options()), got = test::poisoned(out_shape, dt);
      cpu::max_pool2d_select(want, x, v, c.kernel, c.stride, c.padding);
      NG_CUDA_CALL(cuda::max_pool2d_select(got, layout(x.contiguous().to(test::gpu()), c.channels_last),
                                           layout(v.contiguous().to(test::gpu()), !c.channels_last), c.kernel,
                                           c.stride, c.padding));
      test::expect_close(got.to(Device::cpu()), want, 0, 0);

      const Tensor g = layout(test::uniform(out_shape, ++seed, -1, 1, dt), c.channels_last);
      Tensor dx = empty(c.shape, x.options()), dx_gpu = test::poisoned(c.shape, dt);
      cpu::max_pool2d_scatter(dx, x, g, c.kernel, c.stride, c.padding);
      NG_CUDA_CALL(cuda::max_pool2d_scatter(dx_gpu, x.to(test::gpu()),
                                            layout(g.contiguous().to(test::gpu()), c.channels_last), c.kernel,
                                            c.stride, c.padding));
      test::expect_close(dx_gpu.to(Device::cpu()), dx, 0, 0);
    }
}

TEST(CudaPool, UpsampleNearestForwardAndBackwardMatchTheCpu) {
  NG_REQUIRE_GPU();
  uint64_t seed = 110;
  for (DType dt : {DType::f32, DType::f64})
    for (const Shape& shape : {Shape{2, 3, 7, 5}, Shape{1, 1, 1, 1}, Shape{4, 8, 14, 14}})
      for (int64_t scale : {1, 2, 3})
        for (bool channels_last : {false, true}) {
          SCOPED_TRACE(shape_str(shape) + " scale " + std::to_string(scale));
          const Shape up = {shape[0], shape[1], shape[2] * scale, shape[3] * scale};
          const Tensor x = layout(test::uniform(shape, ++seed, -1, 1, dt), channels_last);
          Tensor want = empty(up, x.options()), got = test::poisoned(up, dt);
          cpu::upsample_nearest2d_forward(want, x, scale);
          NG_CUDA_CALL(cuda::upsample_nearest2d_forward(got, layout(x.contiguous().to(test::gpu()), channels_last),
                                                        scale));
          test::expect_close(got.to(Device::cpu()), want, 0, 0);  // a copy: exact

          const Tensor g = layout(test::uniform(up, ++seed, -1, 1, dt), channels_last);
          Tensor dx = empty(shape, x.options()), dx_gpu = test::poisoned(shape, dt);
          cpu::upsample_nearest2d_backward(dx, g, scale);
          NG_CUDA_CALL(cuda::upsample_nearest2d_backward(
              dx_gpu, layout(g.contiguous().to(test::gpu()), channels_last), scale));
          test::expect_close(dx_gpu.to(Device::cpu()), dx, 0, 1e-6);
        }
}

TEST(CudaPool, OpsAndGradientsOnTheGpuMatchTheCpu) {
  NG_REQUIRE_GPU();
  // The U-Net's resampling: 28 -> 14 -> 7 and back, gradients of both ops,
  // and second order (each op's backward is the other op; the loss squares
  // y so that the gradient still depends on x).
  const Tensor x = test::uniform({3, 4, 28, 28}, 120, -1, 1, DType::f32);
  const Tensor r = test::uniform({3, 4, 28, 28}, 121, -1, 1, DType::f32);
  auto f = [](const Tensor& t) { return upsample_nearest2d(avg_pool2d(avg_pool2d(t, 2), 3, 1, 1), 2); };
  Tensor xc = x.clone().requires_grad_(), xg = x.to(test::gpu()).requires_grad_();
  const Tensor yc = f(xc), yg = f(xg);
  test::expect_close(yg.to(Device::cpu()), yc, 0, 1e-6);
  const Tensor gc = autograd::grad({sum(square(yc) * r)}, {xc}, {}, false, true)[0];
  const Tensor gg = autograd::grad({sum(square(yg) * r.to(test::gpu()))}, {xg}, {}, false, true)[0];
  test::expect_close(gg.to(Device::cpu()), gc, 1e-7, 1e-6);
  sum(gc * gc).backward();
  sum(gg * gg).backward();
  test::expect_close(xg.grad().to(Device::cpu()), xc.grad(), 1e-7, 1e-6);
}
