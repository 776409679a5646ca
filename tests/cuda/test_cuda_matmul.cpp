// CUDA GEMM (kernels/matmul*.cu through cuda::gemm) against the CPU GEMM.
//
// Reference: cpu::gemm in float64 on the same inputs (upcast), which is far
// more precise than any float32 result. Tolerance, element-wise, from the
// standard error bound of a dot product: |got - ref| <= tol * S, where
// S = (|a| @ |b|) + |beta * c0| (computed the same way) and
//   float64:  tol = 2 (K + 2) 2^-53     (ours and the reference each within (K+2)u)
//   fp32:     tol = (K + 2) 2^-24       (any summation order, plus the beta add)
//   tf32:     tol = 2^-10 * 1.01 + 2 (K + 2) 2^-24   (inputs rounded to 11 significant
//             bits: each product off by <= 2^-10 relative; accumulation in fp32, with a
//             factor 2 for the tensor cores' accumulation, which need not round to nearest)
//   bf16:     tol = 2^-7 * 1.01 + 2 (K + 2) 2^-24    (8 significant bits)
// These are worst-case bounds, so they cannot flake, and they are tight enough
// to fail on a wrong index, a missing tile, a tf32 result under fp32, ...
// Outputs start NaN-poisoned (beta = 0), so unwritten elements fail, and when
// out is a view into a larger buffer the elements outside it must stay NaN.
//
// cuBLAS is a second oracle where the build links it (NANOGEN_TEST_CUBLAS):
// cublasSgemm for fp32, cublasGemmEx with CUBLAS_COMPUTE_32F_FAST_TF32 /
// _FAST_16BF for tf32 / bf16; ours and cuBLAS may differ by the sum of their
// bounds (2x for fp32, 3x for tf32 / bf16 in case cuBLAS truncates its inputs).
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "engine/cpu/gemm.h"
#include "support/cuda.h"
#include "support/gradcheck.h"

#ifdef NANOGEN_WITH_CUDA
#include "engine/cuda/backend.h"
#include "engine/cuda/runtime.h"
#endif
#ifdef NANOGEN_TEST_CUBLAS
#include <cublas_v2.h>
#endif

using namespace ng;

namespace {

// ---- inputs ------------------------------------------------------------------

// An operand of logical shape [..., rows, cols] stored row-major (trans =
// false) or transposed in memory (trans = true, like w.t()), once on the CPU
// and once on the GPU with the same strides.
struct Operand {
  Tensor cpu, gpu;
};

Operand make_operand(Shape shape, bool trans, uint64_t seed, DType dtype = DType::f32) {
  Shape stored = shape;
  if (trans) std::swap(stored[stored.size() - 1], stored[stored.size() - 2]);
  const Tensor s = test::uniform(stored, seed, -1, 1, dtype);
  const Tensor g = s.to(test::gpu());
  if (!trans) return {s, g};
  return {s.transpose(-1, -2), g.transpose(-1, -2)};
}

// ---- the device call ------------------------------------------------------------

void gpu_gemm(const Tensor& out, const Tensor& a, const Tensor& b, double beta) {
#ifdef NANOGEN_WITH_CUDA
  cuda::gemm(out, a, b, beta);
#else
  (void)out, (void)a, (void)b, (void)beta;
  ADD_FAILURE() << "no CUDA backend in this build";
#endif
}

// ---- reference and comparison -----------------------------------------------------

double tolerance(MatmulPrecision p, DType dtype, int64_t k) {
  const double kk = double(k + 2);
  if (dtype == DType::f64) return 2 * kk * std::ldexp(1.0, -53);
  switch (p) {
    case MatmulPrecision::fp32: return kk * std::ldexp(1.0, -24);
    case MatmulPrecision::tf32: return std::ldexp(1.0, -10) * 1.01 + 2 * kk * std::ldexp(1.0, -24);
    case MatmulPrecision::bf16: return std::ldexp(1.0, -7) * 1.01 + 2 * kk * std::ldexp(1.0, -24);
  }
  return 0;
}

struct Reference {
  Tensor value;  // a @ b + beta * c0 in float64
  Tensor scale;  // |a| @ |b| + |beta * c0|
};

Reference reference(const Tensor& a, const Tensor& b, const Tensor& c0, double beta) {
  const Tensor a64 = a.to(DType::f64).contiguous(), b64 = b.to(DType::f64).contiguous();
  Shape out_shape = a.shape();
  out_shape.back() = b.shape().back();
  const TensorOptions f64 = TensorOptions{}.with_dtype(DType::f64);
  Reference r;
  r.value = c0.defined() ? c0.to(DType::f64).clone() : zeros(out_shape, f64);
  cpu::gemm(r.value, a64, b64, c0.defined() ? beta : 0.0);
  r.scale = c0.defined() ? (abs(c0.to(DType::f64)) * std::fabs(beta)).contiguous() : zeros(out_shape, f64);
  cpu::gemm(r.scale, abs(a64), abs(b64), 1.0);
  return r;
}

// Element-wise |got - ref| <= tol * scale (NaN fails), reporting the first misses.
void expect_within(const Tensor& got, const Reference& ref, double tol, const std::string& what) {
  const std::vector<double> g = got.to(Device::cpu()).to(DType::f64).contiguous().to_vector<double>();
  const std::vector<double> v = ref.value.to_vector<double>(), s = ref.scale.to_vector<double>();
  ASSERT_EQ(g.size(), v.size()) << what;
  int misses = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    const double bound = tol * s[i] + 1e-30;
    if (!(std::fabs(g[i] - v[i]) <= bound) && ++misses <= 5)
      ADD_FAILURE() << what << ": element " << i << " is " << g[i] << ", expected " << v[i] << " within " << bound;
  }
  EXPECT_EQ(misses, 0) << what << ": " << misses << " of " << g.size() << " elements off";
}

std::string describe(int64_t m, int64_t n, int64_t k, bool ta, bool tb, MatmulPrecision p) {
  std::ostringstream os;
  os << m << "x" << n << "x" << k << " " << (ta ? "T" : "N") << (tb ? "T" : "N") << " " << to_string(p);
  return os.str();
}

// One M x N x K product in the given layouts: NaN-poisoned out, beta = 0.
void check_product(int64_t m, int64_t n, int64_t k, bool ta, bool tb, MatmulPrecision p, uint64_t seed,
                   DType dtype = DType::f32) {
  MatmulPrecisionGuard guard(p);
  const Operand a = make_operand({m, k}, ta, seed, dtype), b = make_operand({k, n}, tb, seed + 1, dtype);
  const Tensor out = test::poisoned({m, n}, dtype);
  gpu_gemm(out, a.gpu, b.gpu, 0.0);
  expect_within(out, reference(a.cpu, b.cpu, Tensor(), 0.0), tolerance(p, dtype, k), describe(m, n, k, ta, tb, p));
}

struct Size {
  int64_t m, n, k;
};

// Awkward sizes (1, primes, just off a tile) and the models' linear layers at
// batch 128: VAE Linear(3136,256) forward / input-grad / weight-grad, GAN
// Linear(64,6272) and Linear(6272,1). Several are split along K.
const std::vector<Size> kSizes = {
    {1, 1, 1},     {17, 33, 65},  {127, 129, 255}, {1000, 3, 7},   {3, 5, 1},       {129, 1, 300},
    {128, 256, 3136}, {128, 3136, 256}, {256, 3136, 128}, {64, 3136, 256}, {128, 6272, 64}, {128, 1, 6272},
    {6272, 64, 128},  {1, 6272, 128},
};

}  // namespace

// ---- the precision setting (no GPU needed) ---------------------------------------------

TEST(MatmulPrecisionSetting, DefaultsToFp32AndGuardsRestore) {
  EXPECT_EQ(matmul_precision(), MatmulPrecision::fp32);
  {
    MatmulPrecisionGuard tf32(MatmulPrecision::tf32);
    EXPECT_EQ(matmul_precision(), MatmulPrecision::tf32);
    {
      MatmulPrecisionGuard bf16(MatmulPrecision::bf16);
      EXPECT_EQ(matmul_precision(), MatmulPrecision::bf16);
    }
    EXPECT_EQ(matmul_precision(), MatmulPrecision::tf32);
  }
  EXPECT_EQ(matmul_precision(), MatmulPrecision::fp32);
  EXPECT_EQ(parse_matmul_precision("high"), MatmulPrecision::tf32);
  EXPECT_EQ(parse_matmul_precision("medium"), MatmulPrecision::bf16);
  EXPECT_EQ(parse_matmul_precision("fp32"), MatmulPrecision::fp32);
  EXPECT_STREQ(to_string(MatmulPrecision::bf16), "bf16");
  try {
    parse_matmul_precision("fp16");
    ADD_FAILURE() << "expected an ng::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'fp16'"), std::string::npos) << e.what();
  }
}

// ---- values against the CPU ---------------------------------------------------------------

TEST(CudaMatmul, Fp32MatchesTheCpuOnAwkwardSizesInAllLayouts) {
  NG_REQUIRE_GPU();
  uint64_t seed = 100;
  for (const Size& s : kSizes)
    for (int layout = 0; layout < 4; ++layout)
      check_product(s.m, s.n, s.k, layout & 1, layout & 2, MatmulPrecision::fp32, seed += 2);
}

TEST(CudaMatmul, TensorCoresMatchTheCpuWithinTheirPrecision) {
  NG_REQUIRE_GPU();
  uint64_t seed = 300;
  for (MatmulPrecision p : {MatmulPrecision::tf32, MatmulPrecision::bf16})
    for (const Size& s : kSizes)
      for (int layout = 0; layout < 4; ++layout) check_product(s.m, s.n, s.k, layout & 1, layout & 2, p, seed += 2);
}

TEST(CudaMatmul, Float64IsExactToDoubleRounding) {
  NG_REQUIRE_GPU();
  uint64_t seed = 500;
  for (const Size& s : {Size{1, 1, 1}, Size{17, 33, 65}, Size{127, 129, 255}, Size{1000, 3, 7}, Size{65, 70, 300}})
    for (int layout = 0; layout < 4; ++layout)
      check_product(s.m, s.n, s.k, layout & 1, layout & 2, MatmulPrecision::tf32 /* ignored */, seed += 2,
                    DType::f64);
}

// The precision setting really changes the rounding of the inputs:
// 1 + 2^-12 is not a tf32 number (10 fraction bits) and rounds to 1;
// 1 + 2^-11 is a tf32 tie and cvt.rna rounds it away from zero to 1 + 2^-10;
// 1 + 2^-8 is a bf16 tie (7 fraction bits) and rounds to even, to 1.
TEST(CudaMatmul, InputsAreRoundedToTf32AndBf16) {
  NG_REQUIRE_GPU();
  const auto product = [](double x, MatmulPrecision p) {
    MatmulPrecisionGuard guard(p);
    const Tensor a = full({1, 1}, x, TensorOptions{}.with_device(test::gpu()));
    const Tensor b = ones({1, 1}, TensorOptions{}.with_device(test::gpu()));
    return matmul(a, b).item();
  };
  EXPECT_EQ(product(1 + std::ldexp(1.0, -12), MatmulPrecision::fp32), 1 + std::ldexp(1.0, -12));
  EXPECT_EQ(product(1 + std::ldexp(1.0, -12), MatmulPrecision::tf32), 1.0);
  EXPECT_EQ(product(1 + std::ldexp(1.0, -11), MatmulPrecision::tf32), 1 + std::ldexp(1.0, -10));
  EXPECT_EQ(product(1 + std::ldexp(1.0, -9), MatmulPrecision::tf32), 1 + std::ldexp(1.0, -9));
  EXPECT_EQ(product(1 + std::ldexp(1.0, -8), MatmulPrecision::bf16), 1.0);
  EXPECT_EQ(product(1 + std::ldexp(1.0, -7), MatmulPrecision::bf16), 1 + std::ldexp(1.0, -7));
}

// Batch dims broadcast with stride 0 in different dims (not mergeable), a
// batch stride smaller than the row stride, out a strided view inside a
// larger NaN buffer whose other elements must stay NaN, and beta != 0.
TEST(CudaMatmul, BatchedBroadcastStridedOutputAndBeta) {
  NG_REQUIRE_GPU();
  for (MatmulPrecision p : {MatmulPrecision::fp32, MatmulPrecision::tf32, MatmulPrecision::bf16})
    for (double beta : {0.0, 1.0, -0.5})
      for (int layout = 0; layout < 4; ++layout) {
        MatmulPrecisionGuard guard(p);
        const bool ta = layout & 1, tb = layout & 2;
        const int64_t m = 37, n = 45, k = 300;  // k: long enough to be split along K
        Operand a = make_operand({3, 1, m, k}, ta, 700 + layout), b = make_operand({1, 4, k, n}, tb, 710 + layout);
        a = {a.cpu.expand({3, 4, m, k}), a.gpu.expand({3, 4, m, k})};
        b = {b.cpu.expand({3, 4, k, n}), b.gpu.expand({3, 4, k, n})};
        const Tensor buffer = test::poisoned({3, 4, m, n + 3});
        Tensor out = buffer.narrow(3, 0, n);
        Tensor c0;
        if (beta != 0.0) {
          c0 = test::uniform({3, 4, m, n}, 720 + layout, -1, 1, DType::f32);
          out.copy_(c0);
        }
        gpu_gemm(out, a.gpu, b.gpu, beta);
        const std::string what = describe(m, n, k, ta, tb, p) + " batched, beta " + std::to_string(beta);
        expect_within(out, reference(a.cpu, b.cpu, c0, beta), tolerance(p, DType::f32, k), what);
        const std::vector<float> pad = buffer.narrow(3, n, 3).to(Device::cpu()).contiguous().to_vector<float>();
        for (float v : pad) ASSERT_TRUE(std::isnan(v)) << what << ": wrote outside the output view";
      }
}

// Row-major A whose batch stride (K) is smaller than its row stride (3K), a
// float64 batched product, and operands at odd offsets (no 16-byte loads).
TEST(CudaMatmul, PermutedBatchesFloat64BatchesAndMisalignedOperands) {
  NG_REQUIRE_GPU();
  {
    const int64_t m = 19, n = 23, k = 41;
    const Operand s = make_operand({m, 3, k}, false, 800);
    const Tensor ac = s.cpu.permute({1, 0, 2}), ag = s.gpu.permute({1, 0, 2});
    const Operand b = make_operand({3, k, n}, true, 801);
    const Tensor out = test::poisoned({3, m, n});
    gpu_gemm(out, ag, b.gpu, 0.0);
    expect_within(out, reference(ac, b.cpu, Tensor(), 0.0), tolerance(MatmulPrecision::fp32, DType::f32, k),
                  "permuted batch");
  }
  {
    const Operand a = make_operand({5, 33, 17}, false, 802, DType::f64);
    const Operand b = make_operand({5, 17, 29}, true, 803, DType::f64);
    const Tensor out = test::poisoned({5, 33, 29}, DType::f64);
    gpu_gemm(out, a.gpu, b.gpu, 0.0);
    expect_within(out, reference(a.cpu, b.cpu, Tensor(), 0.0), tolerance(MatmulPrecision::fp32, DType::f64, 17),
                  "float64 batched");
  }
  for (MatmulPrecision p : {MatmulPrecision::fp32, MatmulPrecision::tf32, MatmulPrecision::bf16}) {
    MatmulPrecisionGuard guard(p);
    const int64_t m = 130, n = 132, k = 260;
    const Operand a = make_operand({m, k + 1}, false, 810), b = make_operand({k + 1, n + 1}, false, 811);
    const Tensor ac = a.cpu.narrow(1, 1, k), ag = a.gpu.narrow(1, 1, k);  // pointer 4 bytes off
    const Tensor bc = b.cpu.narrow(0, 1, k).narrow(1, 1, n), bg = b.gpu.narrow(0, 1, k).narrow(1, 1, n);
    const Tensor buffer = test::poisoned({m, n + 1});
    const Tensor out = buffer.narrow(1, 1, n);
    gpu_gemm(out, ag, bg, 0.0);
    expect_within(out, reference(ac, bc, Tensor(), 0.0), tolerance(p, DType::f32, k),
                  std::string("misaligned ") + to_string(p));
  }
}

// K = 0: an empty sum leaves beta * out (and zeros for beta = 0).
TEST(CudaMatmul, EmptyKScalesTheOutput) {
  NG_REQUIRE_GPU();
  const Tensor a = empty({4, 0}, TensorOptions{}.with_device(test::gpu()));
  const Tensor b = empty({0, 6}, TensorOptions{}.with_device(test::gpu()));
  Tensor out = test::poisoned({4, 6});
  gpu_gemm(out, a, b, 0.0);
  EXPECT_EQ(out.to(Device::cpu()).to_vector<float>(), std::vector<float>(24, 0.f));
  out.fill_(2.0);
  gpu_gemm(out, a, b, 0.25);
  EXPECT_EQ(out.to(Device::cpu()).to_vector<float>(), std::vector<float>(24, 0.5f));
}

TEST(CudaMatmul, ErrorsNameTheShapes) {
  NG_REQUIRE_GPU();
  const auto opts = TensorOptions{}.with_device(test::gpu());
  const Tensor a = empty({4, 6}, opts), b = empty({6, 5}, opts);
  // Every other column of a: no unit stride in either matrix dim.
  const Tensor strided = empty({6, 10}, opts).slice(1, 0, 10, 2);
  try {
    gpu_gemm(empty({6, 5}, opts), strided, empty({5, 5}, opts), 0.0);
    ADD_FAILURE() << "expected an ng::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[6,5]"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("unit stride"), std::string::npos) << e.what();
  }
  try {
    gpu_gemm(empty({4, 5}, opts), a, b.t(), 0.0);
    ADD_FAILURE() << "expected an ng::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[5,6]"), std::string::npos) << e.what();
  }
}

// ---- through the ops: matmul, bmm, linear, and their gradients -------------------------------

namespace {

// The GPU result of `f` and its input gradients for the output gradient g
// equal the CPU's, to float32 GEMM accuracy (inputs in [-1, 1], K <= 64).
void expect_same_forward_and_grads(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                                   const std::vector<Tensor>& inputs, uint64_t seed) {
  std::vector<Tensor> xc, xg;
  for (const Tensor& x : inputs) {
    xc.push_back(x.clone().requires_grad_());
    xg.push_back(x.to(test::gpu()).requires_grad_());
  }
  const Tensor yc = f(xc), yg = f(xg);
  const Tensor g = test::uniform(yc.shape(), seed, -1, 1, DType::f32);
  {
    SCOPED_TRACE("forward " + shape_str(yc.shape()));
    test::expect_close(yg.to(Device::cpu()), yc, 1e-4, 1e-4);
  }
  yc.backward(g);
  yg.backward(g.to(test::gpu()));
  for (size_t i = 0; i < inputs.size(); ++i) {
    ASSERT_TRUE(xg[i].grad().defined()) << "input " << i;
    SCOPED_TRACE("gradient of input " + std::to_string(i) + " " + shape_str(inputs[i].shape()));
    test::expect_close(xg[i].grad().to(Device::cpu()), xc[i].grad(), 1e-4, 1e-4);
  }
}

Tensor f32(const Shape& s, uint64_t seed) { return test::uniform(s, seed, -1, 1, DType::f32); }

}  // namespace

TEST(CudaMatmul, MatmulBmmAndLinearGradientsMatchTheCpu) {
  NG_REQUIRE_GPU();
  expect_same_forward_and_grads([](const auto& x) { return matmul(x[0], x[1]); }, {f32({37, 29}, 1), f32({29, 41}, 2)},
                                3);
  expect_same_forward_and_grads([](const auto& x) { return bmm(x[0], x[1]); },
                                {f32({3, 17, 33}, 4), f32({3, 33, 9}, 5)}, 6);
  // A batch of matrices times one matrix (folded into one tall GEMM).
  expect_same_forward_and_grads([](const auto& x) { return matmul(x[0], x[1]); },
                                {f32({4, 5, 24}, 7), f32({24, 13}, 8)}, 9);
  // Linear without bias: dx = g @ W (NN), dW = g^T @ x (TN), forward x @ W^T (NT).
  expect_same_forward_and_grads([](const auto& x) { return linear(x[0], x[1]); }, {f32({65, 48}, 10), f32({30, 48}, 11)},
                                12);
  for (MatmulPrecision p : {MatmulPrecision::tf32, MatmulPrecision::bf16}) {
    MatmulPrecisionGuard guard(p);
    const Tensor x = f32({50, 64}, 13), w = f32({20, 64}, 14);
    const Tensor got = linear(x.to(test::gpu()), w.to(test::gpu())).to(Device::cpu());
    expect_within(got, reference(x, w.t(), Tensor(), 0.0), tolerance(p, DType::f32, 64),
                  std::string("linear ") + to_string(p));
  }
}

// Needs the CUDA reductions too (the bias gradient and the sum over a
// broadcast batch dim).
// linear seeds its output with the bias (a broadcasting copy) before a beta = 1 GEMM.
TEST(CudaMatmul, BroadcastCopyOfABiasIntoAnOddWidthOutput) {
  NG_REQUIRE_GPU();
  const Tensor b = f32({17}, 30);
  Tensor out = test::poisoned({14, 17});
  out.copy_(b.to(test::gpu()));
  test::expect_close(out.to(Device::cpu()), b.expand({14, 17}).contiguous(), 0.0, 0.0);
}

// The pieces of the gradient of a batch-broadcast operand, each against the CPU.
TEST(CudaMatmul, PiecesOfABroadcastOperandsGradient) {
  NG_REQUIRE_GPU();
  const Tensor g = f32({2, 3, 5, 4}, 40), b = f32({3, 6, 4}, 41), full = f32({2, 3, 5, 6}, 42);
  {
    SCOPED_TRACE("sum over a middle dim, keepdim");
    test::expect_close(sum(full.to(test::gpu()), {1}, true).to(Device::cpu()), sum(full, {1}, true), 1e-5, 1e-5);
  }
  {
    SCOPED_TRACE("g @ b^T, b^T broadcast over the leading batch dim");
    const Tensor bt = b.transpose(-1, -2);
    test::expect_close(matmul(g.to(test::gpu()), b.to(test::gpu()).transpose(-1, -2)).to(Device::cpu()),
                       matmul(g, bt), 1e-4, 1e-4);
  }
  {
    SCOPED_TRACE("g @ b^T with b^T made contiguous");
    const Tensor bt = b.transpose(-1, -2).contiguous();
    test::expect_close(matmul(g.to(test::gpu()), bt.to(test::gpu())).to(Device::cpu()), matmul(g, bt), 1e-4, 1e-4);
  }
}

// B read k-contiguously (a transposed view) with K below and above one
// 8-deep tile, with and without batch dims.
TEST(CudaMatmul, TransposedRightOperandSmallK) {
  NG_REQUIRE_GPU();
  for (int64_t k : {4, 8, 12}) {
    for (const Shape& batch : {Shape{}, Shape{3}, Shape{2, 3}}) {
      Shape sa = batch, sb = batch;
      sa.insert(sa.end(), {5, k});
      sb.insert(sb.end(), {6, k});
      const Tensor a = f32(sa, 50 + k), b = f32(sb, 60 + k);
      SCOPED_TRACE("a " + shape_str(sa) + " @ (b " + shape_str(sb) + ")^T");
      test::expect_close(matmul(a.to(test::gpu()), b.to(test::gpu()).transpose(-1, -2)).to(Device::cpu()),
                         matmul(a, b.transpose(-1, -2)), 1e-4, 1e-4);
    }
  }
}

TEST(CudaMatmul, LinearWithBiasAndBroadcastMatmulGradientsMatchTheCpu) {
  NG_REQUIRE_GPU();
  expect_same_forward_and_grads([](const auto& x) { return linear(x[0], x[1], x[2]); },
                                {f32({2, 7, 33}, 20), f32({17, 33}, 21), f32({17}, 22)}, 23);
  expect_same_forward_and_grads([](const auto& x) { return matmul(x[0], x[1]); },
                                {f32({2, 1, 5, 6}, 24), f32({3, 6, 4}, 25)}, 26);
}

// ---- cuBLAS as a second oracle ------------------------------------------------------------------

#ifdef NANOGEN_TEST_CUBLAS
namespace {

#define CUBLAS_OK(call) ASSERT_EQ((call), CUBLAS_STATUS_SUCCESS) << #call

// Row-major C = A @ B through column-major cuBLAS: C^T = B^T @ A^T, where a
// row-major matrix is its own transpose read column-major, and an operand
// stored transposed (trans) is passed with CUBLAS_OP_T.
void cublas_gemm(cublasHandle_t h, MatmulPrecision p, int m, int n, int k, const float* a, int lda, bool ta,
                 const float* b, int ldb, bool tb, float* c, int ldc) {
  const float alpha = 1.f, beta = 0.f;
  const cublasOperation_t op_a = ta ? CUBLAS_OP_T : CUBLAS_OP_N, op_b = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
  if (p == MatmulPrecision::fp32) {
    CUBLAS_OK(cublasSgemm(h, op_b, op_a, n, m, k, &alpha, b, ldb, a, lda, &beta, c, ldc));
    return;
  }
  const cublasComputeType_t compute =
      p == MatmulPrecision::tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F_FAST_16BF;
  CUBLAS_OK(cublasGemmEx(h, op_b, op_a, n, m, k, &alpha, b, CUDA_R_32F, ldb, a, CUDA_R_32F, lda, &beta, c, CUDA_R_32F,
                         ldc, compute, CUBLAS_GEMM_DEFAULT));
}

}  // namespace

TEST(CudaMatmul, CublasAgreesWithinTheBounds) {
  NG_REQUIRE_GPU();
  cublasHandle_t handle = nullptr;
  CUBLAS_OK(cublasCreate(&handle));
  CUBLAS_OK(cublasSetStream(handle, cuda::stream(0)));
  uint64_t seed = 900;
  for (MatmulPrecision p : {MatmulPrecision::fp32, MatmulPrecision::tf32, MatmulPrecision::bf16})
    for (const Size& s : {Size{17, 33, 65}, Size{127, 129, 255}, Size{128, 256, 3136}, Size{512, 384, 640}})
      for (int layout = 0; layout < 4; ++layout) {
        MatmulPrecisionGuard guard(p);
        const bool ta = layout & 1, tb = layout & 2;
        const Operand a = make_operand({s.m, s.k}, ta, seed += 2), b = make_operand({s.k, s.n}, tb, seed + 1);
        const Tensor ours = test::poisoned({s.m, s.n}), theirs = test::poisoned({s.m, s.n});
        gpu_gemm(ours, a.gpu, b.gpu, 0.0);
        // The stored (contiguous) matrices: ld is their row length.
        const int lda = int(ta ? s.m : s.k), ldb = int(tb ? s.k : s.n);
        cublas_gemm(handle, p, int(s.m), int(s.n), int(s.k), a.gpu.data<float>(), lda, ta, b.gpu.data<float>(), ldb,
                    tb, theirs.data<float>(), int(s.n));
        Reference ref = reference(a.cpu, b.cpu, Tensor(), 0.0);
        ref.value = theirs.to(Device::cpu()).to(DType::f64);
        // Ours is within the bound of the truth, and so is cuBLAS; but cuBLAS
        // may convert to tf32 / bf16 by truncation, twice the rounding error.
        const double factor = p == MatmulPrecision::fp32 ? 2 : 3;
        expect_within(ours, ref, factor * tolerance(p, DType::f32, s.k),
                      describe(s.m, s.n, s.k, ta, tb, p) + " vs cuBLAS");
      }
  CUBLAS_OK(cublasDestroy(handle));
}
#endif
