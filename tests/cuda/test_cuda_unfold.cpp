// CUDA unfold and fold (kernels/unfold.cu) against the CPU twins, for
// unequal strides, padding and dilation. Each output element has one writer
// that adds the same values in the same order as the CPU, so results are
// compared for equality; outputs start NaN-poisoned.
#include <gtest/gtest.h>

#include "engine/cpu/unfold.h"
#include "support/cuda_twin.h"
#include "support/gradcheck.h"

using namespace ng;

TEST(CudaUnfold, UnfoldAndFoldMatchTheCpu) {
  NG_REQUIRE_GPU();
  struct Case {
    Shape x;
    int64_t kh, kw, sh, sw, ph, pw, dh, dw;
  };
  const Case cases[] = {
      {{2, 3, 9, 8}, 3, 3, 1, 1, 1, 1, 1, 1}, {{1, 4, 11, 7}, 2, 3, 3, 2, 0, 1, 2, 1},
      {{3, 2, 16, 16}, 3, 3, 2, 2, 2, 2, 2, 2}, {{2, 5, 6, 9}, 1, 4, 1, 3, 0, 2, 1, 2},
  };
  uint64_t seed = 70;
  for (DType dt : {DType::f32, DType::f64})
    for (const Case& c : cases) {
      SCOPED_TRACE(shape_str(c.x));
      kernels::UnfoldGeometry g{c.x[0], c.x[1], c.x[2], c.x[3], c.kh, c.kw, c.sh, c.sw, c.ph, c.pw, c.dh, c.dw, 0, 0};
      g.out_h = (g.h + 2 * g.pad_h - g.dilation_h * (g.kh - 1) - 1) / g.stride_h + 1;
      g.out_w = (g.w + 2 * g.pad_w - g.dilation_w * (g.kw - 1) - 1) / g.stride_w + 1;
      const Shape cols_shape = {g.n, g.c * g.kh * g.kw, g.out_h * g.out_w};
      const Tensor x = test::uniform(c.x, ++seed, -1, 1, dt);
      Tensor want = empty(cols_shape, x.options()), got = test::poisoned(cols_shape, dt);
      cpu::unfold(want, x, g);
      NG_CUDA_CALL(cuda::unfold(got, x.to(test::gpu()), g));
      EXPECT_EQ(got.to(Device::cpu()).to_vector<double>(), want.to_vector<double>());

      const Tensor cols = test::uniform(cols_shape, ++seed, -1, 1, dt);
      Tensor back = empty(c.x, x.options()), back_gpu = test::poisoned(c.x, dt);
      cpu::fold(back, cols, g);
      NG_CUDA_CALL(cuda::fold(back_gpu, cols.to(test::gpu()), g));
      EXPECT_EQ(back_gpu.to(Device::cpu()).to_vector<double>(), back.to_vector<double>());
    }
}
