// CUDA gather, its adjoint and argmax (kernels/index.cu) against the CPU twins. Every output element has one
// writer that adds the same values in the same order as the CPU, so results
// are compared for equality. Outputs start NaN-poisoned, so an element the
// kernel forgot shows.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "engine/cpu/index.h"
#include "support/cuda_twin.h"
#include "support/gradcheck.h"

using namespace ng;

namespace {

// t rounded down, in t's dtype.
Tensor floor_of(const Tensor& t) {
  std::vector<double> v = t.to_vector<double>();
  for (double& e : v) e = std::floor(e);
  return from_vector(v, t.shape()).to(t.dtype());
}

// Random whole numbers in [0, n) as an index tensor of `shape`.
Tensor random_indices(const Shape& shape, int64_t n, uint64_t seed, DType dt) {
  return floor_of(test::uniform(shape, seed, 0, double(n), dt));
}

}  // namespace

TEST(CudaIndex, GatherAndItsAdjointMatchTheCpu) {
  NG_REQUIRE_GPU();
  struct Case {
    Shape x;
    int64_t dim, picks;
  };
  const Case cases[] = {{{5, 7}, 1, 3}, {{4, 6, 3}, 1, 9}, {{8, 2, 5}, 0, 1}, {{3, 4, 130}, 2, 200}};
  uint64_t seed = 10;
  for (DType dt : {DType::f32, DType::f64})
    for (const Case& c : cases) {
      SCOPED_TRACE(shape_str(c.x) + " dim " + std::to_string(c.dim));
      Shape index_shape = c.x;
      index_shape[size_t(c.dim)] = c.picks;
      kernels::AroundDim xs{1, c.x[size_t(c.dim)], 1};
      for (int64_t e = 0; e < int64_t(c.x.size()); ++e) {
        if (e < c.dim) xs.outer *= c.x[size_t(e)];
        if (e > c.dim) xs.inner *= c.x[size_t(e)];
      }
      const Tensor x = test::uniform(c.x, ++seed, -1, 1, dt);
      const Tensor index = random_indices(index_shape, xs.n, ++seed, dt);
      Tensor want = empty(index_shape, x.options()), got = test::poisoned(index_shape, dt);
      cpu::gather(want, x, index, xs);
      NG_CUDA_CALL(cuda::gather(got, x.to(test::gpu()), index.to(test::gpu()), xs));
      EXPECT_EQ(got.to(Device::cpu()).to_vector<double>(), want.to_vector<double>());

      const Tensor g = test::uniform(index_shape, ++seed, -1, 1, dt);
      Tensor dx = empty(c.x, x.options()), dx_gpu = test::poisoned(c.x, dt);
      cpu::gather_backward(dx, index, g, xs);
      NG_CUDA_CALL(cuda::gather_backward(dx_gpu, index.to(test::gpu()), g.to(test::gpu()), xs));
      EXPECT_EQ(dx_gpu.to(Device::cpu()).to_vector<double>(), dx.to_vector<double>());
    }
}

TEST(CudaIndex, ArgmaxMatchesTheCpuWithTiesAndNans) {
  NG_REQUIRE_GPU();
  for (DType dt : {DType::f32, DType::f64}) {
    // Rounded values tie often; a few NaNs must win their rows.
    std::vector<double> v = floor_of(test::uniform({6, 50, 7}, 40, -3, 3)).to_vector<double>();
    for (size_t i = 0; i < v.size(); i += 97) v[i] = std::numeric_limits<double>::quiet_NaN();
    const Tensor x = from_vector(v, {6, 50, 7}).to(dt);
    const kernels::AroundDim xs{6, 50, 7};
    Tensor want = empty({6, 1, 7}, x.options()), got = test::poisoned({6, 1, 7}, dt);
    cpu::argmax(want, x, xs);
    NG_CUDA_CALL(cuda::argmax(got, x.to(test::gpu()), xs));
    EXPECT_EQ(got.to(Device::cpu()).to_vector<double>(), want.to_vector<double>());
  }
}
