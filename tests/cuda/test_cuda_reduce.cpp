// CUDA reductions (kernels/reduce.cu) against the CPU twin: every strategy
// (a warp or a block per output, a thread per output, the two-pass split),
// reduced dims anywhere, non-contiguous inputs, NaN-poisoned outputs.
//
// Tolerances: both backends accumulate sums in double and round once, so a
// float32 sum agrees to one float32 rounding (rtol 2.5e-7 of the result,
// plus 1e-6 of sum |x| for sums that cancel); float64 sums differ only in
// the order of double additions (1e-12 of sum |x|). max and min are exact.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>

#include "engine/cpu/reduce.h"
#include "support/cuda_twin.h"
#include "support/gradcheck.h"

using namespace ng;

namespace {

using View = std::function<Tensor(const Tensor&)>;

Tensor same(const Tensor& t) { return t; }

struct Case {
  Shape base;                  // shape of the contiguous tensor the view is taken of
  View view;                   // applied on the CPU and on the GPU alike
  std::vector<int64_t> dims;   // reduced dims (empty: all)
};

std::vector<bool> mask_of(int64_t ndim, const std::vector<int64_t>& dims) {
  std::vector<bool> m(size_t(ndim), dims.empty());
  for (int64_t d : dims) m[size_t(d)] = true;
  return m;
}

Shape keepdim_shape(const Shape& s, const std::vector<bool>& mask) {
  Shape k = s;
  for (size_t d = 0; d < k.size(); ++d)
    if (mask[d]) k[d] = 1;
  return k;
}

const char* name(kernels::ReduceOp op) {
  return op == kernels::ReduceOp::sum ? "sum" : op == kernels::ReduceOp::max ? "max" : "min";
}

// Runs cuda::reduce into a poisoned output and compares with cpu::reduce.
void expect_reduce_twin(kernels::ReduceOp op, const Tensor& x_cpu, const Tensor& x_gpu, const std::vector<int64_t>& dims) {
  SCOPED_TRACE(std::string(name(op)) + " of " + shape_str(x_cpu.shape()) + " strides " +
               shape_str(x_cpu.strides()) + " over " + shape_str(Shape(dims.begin(), dims.end())));
  const std::vector<bool> mask = mask_of(x_cpu.dim(), dims);
  const Shape kshape = keepdim_shape(x_cpu.shape(), mask);
  Tensor want = empty(kshape, x_cpu.options());
  cpu::reduce(op, want, x_cpu, mask);
  Tensor got = test::poisoned(kshape, x_cpu.dtype());
  NG_CUDA_CALL(cuda::reduce(op, got, x_gpu, mask));
  double atol = 0, rtol = 0;
  if (op == kernels::ReduceOp::sum) {
    Tensor abs_sum = empty(kshape, x_cpu.options());
    cpu::reduce(kernels::ReduceOp::sum, abs_sum, abs(x_cpu), mask);
    atol = (x_cpu.dtype() == DType::f32 ? 1e-6 : 1e-12) * std::max(1.0, max(abs_sum).item());
    rtol = x_cpu.dtype() == DType::f32 ? 2.5e-7 : 1e-14;
  }
  test::expect_close(got.to(Device::cpu()), want, atol, rtol);
}

std::vector<Case> awkward_cases() {
  return {
      {{1, 1}, same, {}},
      {{7, 13, 5}, same, {1}},  // a middle dim: strided reduction, strided outputs
      {{7, 13, 5}, same, {0, 2}},
      {{7, 13, 5}, same, {0}},
      {{7, 13, 5}, same, {2}},
      {{7, 5, 13}, [](const Tensor& t) { return t.transpose(1, 2); }, {2}},  // reduced dim not innermost in memory
      {{7, 5, 13}, [](const Tensor& t) { return t.transpose(1, 2); }, {1}},
      {{16, 8, 7, 7}, same, {0, 2, 3}},  // a conv bias gradient
      {{16, 8, 7, 7}, same, {3}},
      {{3, 50001}, same, {0}},     // columns: a thread per output
      {{5003, 40}, same, {0}},     // columns, few outputs: split in two passes
      {{50001, 3}, same, {0}},     // few, strided outputs
      {{33, 47}, same, {1}},       // a warp per row
      {{4, 10007}, same, {1}},     // a block per row, split
      {{2, 300007}, same, {1}},
      {{9, 11, 37}, [](const Tensor& t) { return t.permute({2, 0, 1}); }, {}},  // full, permuted
      {{41, 30}, [](const Tensor& t) { return t.slice(0, 0, 41, 2); }, {}},      // full, every other row
      {{128, 2001}, [](const Tensor& t) { return t.slice(0, 1, 128, 2); }, {0}},  // strided columns
      {{6, 4, 5, 3}, [](const Tensor& t) { return t.permute({0, 2, 1, 3}); }, {1, 3}},
      {{2, 3, 4, 5, 6}, same, {0, 2, 4}},
  };
}

}  // namespace

TEST(CudaReduce, SumMaxMinMatchTheCpuOnAwkwardShapesAndLayouts) {
  NG_REQUIRE_GPU();
  uint64_t seed = 10;
  for (DType dt : {DType::f32, DType::f64})
    for (const Case& c : awkward_cases()) {
      const Tensor base = test::uniform(c.base, ++seed, -2, 3, dt);
      const Tensor x_cpu = c.view(base), x_gpu = c.view(base.to(test::gpu()));
      for (kernels::ReduceOp op : {kernels::ReduceOp::sum, kernels::ReduceOp::max, kernels::ReduceOp::min})
        expect_reduce_twin(op, x_cpu, x_gpu, c.dims);
    }
}

TEST(CudaReduce, FullSumsOfOneAndOfAMillionElements) {
  NG_REQUIRE_GPU();
  for (DType dt : {DType::f32, DType::f64}) {
    const Tensor one = test::uniform({1, 1}, 1, -1, 1, dt);
    expect_reduce_twin(kernels::ReduceOp::sum, one, one.to(test::gpu()), {});
    const Tensor big = test::uniform({1000003}, 2, -1, 1, dt);
    const Tensor big_gpu = big.to(test::gpu());
    for (kernels::ReduceOp op : {kernels::ReduceOp::sum, kernels::ReduceOp::max, kernels::ReduceOp::min})
      expect_reduce_twin(op, big, big_gpu, {});
    // A million ones: every partial sum is an integer, exact in float32 too.
    const Tensor ones_gpu = ones({1000003}, TensorOptions{}.with_dtype(dt).with_device(test::gpu()));
    EXPECT_EQ(sum(ones_gpu).item(), 1000003.0);
  }
}

TEST(CudaReduce, ResultsAreTheSameBitsOnEveryRun) {
  NG_REQUIRE_GPU();
  // Shapes that take the two-pass split (rows and columns) and a block per row.
  struct Split {
    Shape shape;
    std::vector<int64_t> dims;
  };
  for (const Split& s : {Split{{4000037}, {}}, Split{{5003, 40}, {0}}, Split{{3, 400009}, {1}}}) {
    const Tensor x = test::uniform(s.shape, 3, -1, 1, DType::f32).to(test::gpu());
    const std::vector<bool> mask = mask_of(x.dim(), s.dims);
    const Shape k = keepdim_shape(s.shape, mask);
    Tensor first = test::poisoned(k), again = test::poisoned(k);
    NG_CUDA_CALL(cuda::reduce(kernels::ReduceOp::sum, first, x, mask));
    for (int run = 0; run < 3; ++run) {
      NG_CUDA_CALL(cuda::reduce(kernels::ReduceOp::sum, again, x, mask));
      EXPECT_EQ(again.to(Device::cpu()).to_vector<float>(), first.to(Device::cpu()).to_vector<float>());
    }
  }
}

TEST(CudaReduce, NaNPropagatesThroughMaxMinAndSum) {
  NG_REQUIRE_GPU();
  std::vector<float> v = test::uniform({6, 70}, 4, -1, 1, DType::f32).to_vector<float>();
  v[3 * 70 + 41] = std::numeric_limits<float>::quiet_NaN();
  v[5 * 70 + 0] = std::numeric_limits<float>::quiet_NaN();
  const Tensor x = from_vector(v, {6, 70});
  for (kernels::ReduceOp op : {kernels::ReduceOp::sum, kernels::ReduceOp::max, kernels::ReduceOp::min})
    for (const std::vector<int64_t>& dims : {std::vector<int64_t>{0}, {1}, {}})
      expect_reduce_twin(op, x, x.to(test::gpu()), dims);  // expect_close requires NaN exactly where the CPU has it
  EXPECT_TRUE(std::isnan(max(x.to(test::gpu())).item()));
  EXPECT_TRUE(std::isnan(min(x.to(test::gpu()), {1}).to(Device::cpu()).to_vector<float>()[3]));
  EXPECT_FALSE(std::isnan(min(x.to(test::gpu()), {1}).to(Device::cpu()).to_vector<float>()[2]));
}

TEST(CudaReduce, SumOverAnEmptyDimIsZero) {
  NG_REQUIRE_GPU();
  const Tensor x = empty({3, 0}, TensorOptions{}.with_device(test::gpu()));
  Tensor got = test::poisoned({3, 1});
  NG_CUDA_CALL(cuda::reduce(kernels::ReduceOp::sum, got, x, {false, true}));
  EXPECT_EQ(got.to(Device::cpu()).to_vector<float>(), std::vector<float>(3, 0.0f));
}

TEST(CudaReduce, OpsAndTheirGradientsOnTheGpuMatchTheCpu) {
  NG_REQUIRE_GPU();
  const Tensor base = test::uniform({5, 6, 7}, 5, -1, 1, DType::f32);
  // Ties for max/min, so that the gradient splits between equal elements.
  std::vector<float> v = base.to_vector<float>();
  v[8] = v[9] = 2.0f;
  const Tensor x = from_vector(v, {5, 6, 7});
  auto loss = [](const Tensor& t) {
    return sum(mean(t, {0, 2}) * 2.0) + sum(max(t, {1}, true) * 3.0) + sum(min(t.transpose(0, 2), {0})) + max(t);
  };
  Tensor xc = x.clone().requires_grad_(), xg = x.to(test::gpu()).requires_grad_();
  const Tensor lc = loss(xc), lg = loss(xg);
  test::expect_close(lg.to(Device::cpu()), lc, 1e-5, 1e-6);
  lc.backward();
  lg.backward();
  test::expect_close(xg.grad().to(Device::cpu()), xc.grad(), 1e-6, 1e-6);
}
