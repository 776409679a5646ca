// CUDA batch / group / layer norm (kernels/norm.cu) against the CPU twin:
// the kernels on every layout (statistics split across blocks or not, S = 1,
// long and short rows, with and without affine parameters) into NaN-poisoned
// outputs; then the ops in training mode on GPU tensors, forward and
// backward, and batch norm's running statistics.
//
// Tolerances (float32): the GPU's Welford statistics run in float32, the
// CPU's two passes in double: mean and rstd agree to ~1e-6 relative, y to
// 1e-5. The backward's sums run in double on both (gw, gb to 1e-6); gx is
// computed in float32 on the GPU: 1e-5 of max |gx|. float64: 1e-10.
#include <gtest/gtest.h>

#include <algorithm>

#include "engine/cpu/norm.h"
#include "support/cuda_twin.h"
#include "support/gradcheck.h"

using namespace ng;

namespace {

[[maybe_unused]] Tensor on_gpu(const Tensor& t) { return t.defined() ? t.to(test::gpu()) : Tensor(); }

double max_abs(const Tensor& t) { return t.numel() ? max(abs(t)).item() : 0.0; }

void expect_norm_twin(const kernels::NormLayout& l, DType dt, bool affine, uint64_t seed) {
  const Shape shape = {l.N, l.C, l.S}, stats = {l.num_stats()}, channels = {l.C};
  SCOPED_TRACE("[N,C,S] = " + shape_str(shape) + " G=" + std::to_string(l.G) +
               (l.per_sample ? " per sample" : " over the batch") + (affine ? ", affine" : ""));
  // An offset mean (|mean| ~ 2 std) so that the statistics' accuracy matters.
  const Tensor x = test::uniform(shape, seed, -1, 3, dt), gy = test::uniform(shape, seed + 1, -1, 1, dt);
  const Tensor w = affine ? test::uniform(channels, seed + 2, 0.5, 1.5, dt) : Tensor();
  const Tensor b = affine ? test::uniform(channels, seed + 3, -1, 1, dt) : Tensor();
  const double eps = 1e-5, tol = dt == DType::f32 ? 1e-5 : 1e-10;

  Tensor y = empty(shape, x.options()), mean = empty(stats, x.options()), rstd = empty(stats, x.options()),
         var = empty(stats, x.options());
  cpu::norm_forward(l, x, w, b, eps, y, mean, rstd, var);
  Tensor y_g = test::poisoned(shape, dt), mean_g = test::poisoned(stats, dt), rstd_g = test::poisoned(stats, dt),
         var_g = test::poisoned(stats, dt);
  const Tensor xg = x.to(test::gpu());
  NG_CUDA_CALL(cuda::norm_forward(l, xg, on_gpu(w), on_gpu(b), eps, y_g, mean_g, rstd_g, var_g));
  test::expect_close(mean_g.to(Device::cpu()), mean, tol, tol);
  test::expect_close(rstd_g.to(Device::cpu()), rstd, 0, tol);
  test::expect_close(var_g.to(Device::cpu()), var, tol, tol);
  test::expect_close(y_g.to(Device::cpu()), y, tol, tol);
  // Without the optional variance output.
  Tensor y_g2 = test::poisoned(shape, dt);
  NG_CUDA_CALL(cuda::norm_forward(l, xg, on_gpu(w), on_gpu(b), eps, y_g2, mean_g, rstd_g, Tensor()));
  test::expect_close(y_g2.to(Device::cpu()), y, tol, tol);

  // Backward from the CPU's statistics on both sides.
  Tensor gx = empty(shape, x.options()), gw = empty(channels, x.options()), gb = empty(channels, x.options());
  cpu::norm_backward(l, gy, x, mean, rstd, w, gx, gw, gb);
  const Tensor gyg = gy.to(test::gpu()), mg = mean.to(test::gpu()), rg = rstd.to(test::gpu());
  Tensor gx_g = test::poisoned(shape, dt), gw_g = test::poisoned(channels, dt), gb_g = test::poisoned(channels, dt);
  NG_CUDA_CALL(cuda::norm_backward(l, gyg, xg, mg, rg, on_gpu(w), gx_g, gw_g, gb_g));
  const double gx_tol = tol * std::max(1.0, max_abs(gx));
  test::expect_close(gx_g.to(Device::cpu()), gx, gx_tol, tol);
  test::expect_close(gw_g.to(Device::cpu()), gw, tol / 10, tol / 10);
  test::expect_close(gb_g.to(Device::cpu()), gb, tol / 10, tol / 10);
  // Each output alone (the op asks only for what needs a gradient).
  Tensor gx_only = test::poisoned(shape, dt), gw_only = test::poisoned(channels, dt);
  NG_CUDA_CALL(cuda::norm_backward(l, gyg, xg, mg, rg, on_gpu(w), gx_only, Tensor(), Tensor()));
  NG_CUDA_CALL(cuda::norm_backward(l, gyg, xg, mg, rg, on_gpu(w), Tensor(), gw_only, Tensor()));
  test::expect_close(gx_only.to(Device::cpu()), gx, gx_tol, tol);
  test::expect_close(gw_only.to(Device::cpu()), gw, tol / 10, tol / 10);
}

}  // namespace

TEST(CudaNorm, KernelsMatchTheCpuOnEveryLayout) {
  NG_REQUIRE_GPU();
  const kernels::NormLayout layouts[] = {
      {3, 12, 35, 4, true},       // group norm, odd sizes
      {2, 64, 784, 8, true},      // group norm as in the U-Net's first level
      {7, 9, 33, 3, true},
      {3, 4, 1, 2, true},         // S = 1
      {50, 64, 1, 1, true},       // layer norm: rows of 64, one group
      {5, 6, 49, 6, false},       // batch norm
      {128, 20, 1, 20, false},    // batch norm of [N, C] (a linear layer's output)
      {64, 2, 4096, 2, false},    // two huge statistics: split across blocks
      {4, 3, 5003, 3, false},     // long rows: a block per row in the backward
      {2, 64, 196, 64, false},
  };
  uint64_t seed = 40;
  for (DType dt : {DType::f32, DType::f64})
    for (const kernels::NormLayout& l : layouts)
      for (bool affine : {false, true}) expect_norm_twin(l, dt, affine, seed += 4);
}

TEST(CudaNorm, StatisticsAreTheSameBitsOnEveryRun) {
  NG_REQUIRE_GPU();
  const kernels::NormLayout l{64, 3, 4099, 3, false};  // split statistics: partial results merged in a fixed order
  const Tensor x = test::uniform({l.N, l.C, l.S}, 50, -1, 3, DType::f32).to(test::gpu());
  std::vector<float> first_mean, first_rstd;
  for (int run = 0; run < 4; ++run) {
    Tensor y = test::poisoned({l.N, l.C, l.S}), mean = test::poisoned({3}), rstd = test::poisoned({3});
    NG_CUDA_CALL(cuda::norm_forward(l, x, Tensor(), Tensor(), 1e-5, y, mean, rstd, Tensor()));
    const std::vector<float> m = mean.to(Device::cpu()).to_vector<float>(), r = rstd.to(Device::cpu()).to_vector<float>();
    if (run == 0) {
      first_mean = m;
      first_rstd = r;
    }
    EXPECT_EQ(m, first_mean);
    EXPECT_EQ(r, first_rstd);
  }
}

namespace {

// Runs f (an op on a [N, C, ...] input with per-channel weight and bias) on
// the CPU and on the GPU, forward and backward, and compares everything.
void expect_op_twin(const Shape& shape, const std::function<Tensor(const Tensor&, const Tensor&, const Tensor&)>& f,
                    uint64_t seed) {
  SCOPED_TRACE("input " + shape_str(shape));
  const Tensor x = test::uniform(shape, seed, -2, 2, DType::f32), r = test::uniform(shape, seed + 1, -1, 1, DType::f32);
  const Tensor w = test::uniform({shape[1]}, seed + 2, 0.5, 1.5, DType::f32);
  const Tensor b = test::uniform({shape[1]}, seed + 3, -1, 1, DType::f32);
  Tensor xc = x.clone().requires_grad_(), wc = w.clone().requires_grad_(), bc = b.clone().requires_grad_();
  Tensor xg = x.to(test::gpu()).requires_grad_(), wg = w.to(test::gpu()).requires_grad_(),
         bg = b.to(test::gpu()).requires_grad_();
  const Tensor yc = f(xc, wc, bc), yg = f(xg, wg, bg);
  test::expect_close(yg.to(Device::cpu()), yc, 1e-5, 1e-5);
  sum(yc * r).backward();
  sum(yg * r.to(test::gpu())).backward();
  test::expect_close(xg.grad().to(Device::cpu()), xc.grad(), 1e-5 * std::max(1.0, max_abs(xc.grad())), 1e-5);
  test::expect_close(wg.grad().to(Device::cpu()), wc.grad(), 1e-5, 1e-5);
  test::expect_close(bg.grad().to(Device::cpu()), bc.grad(), 1e-5, 1e-5);
}

}  // namespace

TEST(CudaNorm, BatchNormTrainingForwardBackwardAndRunningStatistics) {
  NG_REQUIRE_GPU();
  // The DCGAN's batch norms: after a linear layer and after convolutions.
  for (const Shape& shape : {Shape{16, 6272 / 16}, Shape{8, 64, 14, 14}, Shape{9, 13, 7, 7}}) {
    const int64_t C = shape[1];
    Tensor rm_c = zeros({C}), rv_c = ones({C});
    Tensor rm_g = rm_c.to(test::gpu()), rv_g = rv_c.to(test::gpu());
    auto f = [&](const Tensor& x, const Tensor& w, const Tensor& b) {
      const bool gpu = x.device().is_cuda();
      return batch_norm(x, w, b, gpu ? rm_g : rm_c, gpu ? rv_g : rv_c, /*training=*/true, 0.1, 1e-5);
    };
    expect_op_twin(shape, f, 60 + uint64_t(C));
    // One update each: running = 0.9 running + 0.1 batch (the variance unbiased).
    test::expect_close(rm_g.to(Device::cpu()), rm_c, 1e-6, 1e-5);
    test::expect_close(rv_g.to(Device::cpu()), rv_c, 1e-6, 1e-5);
    EXPECT_GT(max_abs(rm_c), 0.0);
  }
}

TEST(CudaNorm, GroupNormAndLayerNormForwardBackward) {
  NG_REQUIRE_GPU();
  // The U-Net's GroupNorm(8) levels (smaller batch), and odd groups.
  for (const Shape& shape : {Shape{2, 64, 28, 28}, Shape{3, 128, 7, 7}, Shape{5, 12, 9, 7}}) {
    const int64_t groups = shape[1] == 12 ? 3 : 8;
    expect_op_twin(shape, [&](const Tensor& x, const Tensor& w, const Tensor& b) {
      return group_norm(x, groups, w, b, 1e-5);
    }, 70 + uint64_t(shape[1]));
  }
  // layer_norm over the last dim (weight [K]) and over the last two.
  for (const Shape& shape : {Shape{6, 33}, Shape{4, 5, 64}}) {
    const Tensor x = test::uniform(shape, 80, -2, 2, DType::f32), r = test::uniform(shape, 81, -1, 1, DType::f32);
    const Shape norm_shape = shape.size() == 2 ? Shape{shape[1]} : Shape{shape[1], shape[2]};
    const Tensor w = test::uniform(norm_shape, 82, 0.5, 1.5, DType::f32), b = test::uniform(norm_shape, 83);
    Tensor xc = x.clone().requires_grad_(), wc = w.clone().requires_grad_();
    Tensor xg = x.to(test::gpu()).requires_grad_(), wg = w.to(test::gpu()).requires_grad_();
    const Tensor yc = layer_norm(xc, norm_shape, wc, b.to(DType::f32), 1e-5);
    const Tensor yg = layer_norm(xg, norm_shape, wg, b.to(DType::f32).to(test::gpu()), 1e-5);
    test::expect_close(yg.to(Device::cpu()), yc, 1e-5, 1e-5);
    sum(yc * r).backward();
    sum(yg * r.to(test::gpu())).backward();
    test::expect_close(xg.grad().to(Device::cpu()), xc.grad(), 1e-5 * std::max(1.0, max_abs(xc.grad())), 1e-5);
    test::expect_close(wg.grad().to(Device::cpu()), wc.grad(), 1e-5, 1e-5);
  }
}

// The fused group norm + SiLU (kernels/norm.cu's SiLU epilogue and its
// backward, which recomputes y): against the CPU twin within the norm's
// float32 tolerances, and against the GPU's own composite silu(group_norm)
// bit for bit, since both apply the same device SiLU to the same y.
TEST(CudaNorm, GroupNormSiluMatchesTheCpuTwinAndTheGpuComposite) {
  NG_REQUIRE_GPU();
  for (const Shape& shape : {Shape{2, 64, 28, 28}, Shape{3, 128, 7, 7}, Shape{5, 12, 9, 7}}) {
    const int64_t groups = shape[1] == 12 ? 3 : 8;
    expect_op_twin(shape, [&](const Tensor& x, const Tensor& w, const Tensor& b) {
      return group_norm_silu(x, groups, w, b, 1e-5);
    }, 90 + uint64_t(shape[1]));
  }
  for (const DType dt : {DType::f32, DType::f64})
    for (const Shape& shape : {Shape{3, 12, 9, 7}, Shape{2, 8, 5}}) {
      SCOPED_TRACE(shape_str(shape) + (dt == DType::f32 ? " f32" : " f64"));
      const Tensor x = test::uniform(shape, 95, -1, 3, dt).to(test::gpu());
      const Tensor r = test::uniform(shape, 96, -1, 1, dt).to(test::gpu());
      const Tensor w = test::uniform({shape[1]}, 97, -2, 2, dt).to(test::gpu());
      const Tensor b = test::uniform({shape[1]}, 98, -1, 1, dt).to(test::gpu());
      auto copy = [](const Tensor& t) { return t.clone().requires_grad_(); };
      const Tensor xa = copy(x), wa = copy(w), ba = copy(b), xb = copy(x), wb = copy(w), bb = copy(b);
      const Tensor fused = group_norm_silu(xa, 4, wa, ba), composite = silu(group_norm(xb, 4, wb, bb));
      sum(fused * r).backward();
      sum(composite * r).backward();
      for (const auto& [p, q] : {std::pair{fused, composite}, std::pair{xa.grad(), xb.grad()},
                                 std::pair{wa.grad(), wb.grad()}, std::pair{ba.grad(), bb.grad()}})
        EXPECT_EQ(max_abs(p - q), 0.0);
    }
}
