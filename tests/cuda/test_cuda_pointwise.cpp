// Pointwise CUDA kernels against the CPU twins (the same math from
// kernels/pointwise.h), on awkward sizes, broadcast and strided operands.
#include <gtest/gtest.h>

#include "support/cuda.h"
#include "support/gradcheck.h"

using namespace ng;

namespace {

// GPU result must match the CPU's to a few float32 ulps (libm vs CUDA math).
void expect_twin(const Tensor& gpu_result, const Tensor& cpu_result, double rtol = 2e-6) {
  test::expect_close(gpu_result.to(Device::cpu()), cpu_result, 1e-6, rtol);
}

}  // namespace

TEST(CudaPointwise, UnaryOpsMatchTheCpu) {
  NG_REQUIRE_GPU();
  for (const Shape& shape : {Shape{1}, Shape{7}, Shape{1023}, Shape{3, 257}, Shape{4, 5, 6, 7}}) {
    const Tensor x = test::uniform(shape, 1, -3, 3, DType::f32);
    const Tensor xg = x.to(test::gpu());
    expect_twin(exp(xg), exp(x));
    expect_twin(tanh(xg), tanh(x));
    expect_twin(sigmoid(xg), sigmoid(x));
    expect_twin(silu(xg), silu(x));
    expect_twin(softplus(xg), softplus(x));
    expect_twin(log_sigmoid(xg), log_sigmoid(x));
    expect_twin(relu(xg), relu(x));
    expect_twin(leaky_relu(xg, 0.2), leaky_relu(x, 0.2));
    expect_twin(clamp(xg, -1, 0.5), clamp(x, -1, 0.5));
    expect_twin(gelu(xg), gelu(x));
    expect_twin(gelu_backward(ones_like(xg), xg), gelu_backward(ones_like(x), x));
    expect_twin(elu(xg, 0.7), elu(x, 0.7));
    expect_twin(floor(xg * 7.0), floor(x * 7.0));
    expect_twin(xg * 3.0 + 1.0, x * 3.0 + 1.0);
  }
}

TEST(CudaPointwise, BinaryOpsBroadcastAndStrides) {
  NG_REQUIRE_GPU();
  const Tensor a = test::uniform({5, 1, 33}, 2, -2, 2, DType::f32);
  const Tensor b = test::uniform({4, 1}, 3, 0.5, 2, DType::f32);
  const Tensor ag = a.to(test::gpu()), bg = b.to(test::gpu());
  expect_twin(ag + bg, a + b);
  expect_twin(ag * bg, a * b);
  expect_twin(ag / bg, a / b);
  expect_twin(maximum(ag, bg), maximum(a, b));
  // Non-contiguous operands: transposed views on the GPU.
  const Tensor m = test::uniform({17, 29}, 4, -1, 1, DType::f32), n = test::uniform({29, 17}, 5, -1, 1, DType::f32);
  expect_twin(m.to(test::gpu()) - n.to(test::gpu()).t(), m - n.t());
  const Tensor cond = gt(m, n.t());
  expect_twin(where(cond.to(test::gpu()), m.to(test::gpu()), n.to(test::gpu()).t()), where(cond, m, n.t()));
}

TEST(CudaPointwise, CopiesFillsAndFloat64) {
  NG_REQUIRE_GPU();
  const Tensor x = test::uniform({6, 10}, 6);  // float64
  const Tensor xg = x.to(test::gpu());
  EXPECT_EQ(xg.to(Device::cpu()).to_vector<double>(), x.to_vector<double>());
  expect_twin(xg.t().contiguous(), x.t().contiguous(), 0);
  expect_twin(xg.to(DType::f32), x.to(DType::f32), 0);
  Tensor p = test::poisoned({3, 4});
  p.fill_(2.5);
  EXPECT_EQ(p.to(Device::cpu()).to_vector<float>(), std::vector<float>(12, 2.5f));
  Tensor q = test::poisoned({4, 3});
  q.t().copy_(x.narrow(0, 0, 3).narrow(1, 0, 4));  // host -> strided device view
  expect_twin(q.t(), x.narrow(0, 0, 3).narrow(1, 0, 4).to(DType::f32), 0);
}

TEST(CudaPointwise, GradientsFlowOnTheGpu) {
  NG_REQUIRE_GPU();
  const Tensor x = test::uniform({3, 8}, 7, -2, 2, DType::f32);
  Tensor xc = x.clone().requires_grad_(), xg = x.to(test::gpu()).requires_grad_();
  sum(silu(xc) * tanh(xc)).backward();
  sum(silu(xg) * tanh(xg)).backward();
  expect_twin(xg.grad(), xc.grad(), 1e-5);
}
