// Philox draws on the GPU against the CPU twins (the same (seed, offset) must
// give the same numbers), and cuRAND's Philox4_32_10 as a second oracle.
//
// Tolerances: uniforms, Bernoulli and dropout masks are exact (integer
// arithmetic and exact float conversions). Normals come from a float64
// Box-Muller whose log/sqrt/cos/sin differ between glibc and CUDA by an ulp
// or two, so float32 normals may differ by one float32 ulp (when the float64
// value lies next to a float32 rounding boundary) and float64 normals by a
// few float64 ulps; near a zero of cos/sin an absolute 1e-12 is allowed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "engine/cpu/random.h"
#include "support/cuda.h"
#include "support/gradcheck.h"

#ifdef NANOGEN_WITH_CUDA
#include <curand.h>

#include "engine/cuda/backend.h"
#include "engine/cuda/runtime.h"
#include "kernels/philox.h"
#endif

using namespace ng;

namespace {

const Shape kShapes[] = {{1}, {3}, {5}, {4, 4}, {1023}, {4097}, {3, 7, 11}, {123457}};

TensorOptions on_gpu(DType dt) { return TensorOptions{}.with_dtype(dt).with_device(test::gpu()); }

template <class T>
void expect_equal(const Tensor& gpu, const Tensor& cpu, const char* what) {
  const std::vector<T> a = gpu.to(Device::cpu()).to_vector<T>(), b = cpu.to_vector<T>();
  ASSERT_EQ(a.size(), b.size()) << what;
  int64_t bad = 0;
  for (size_t i = 0; i < a.size(); ++i)
    if (!(a[i] == b[i]) && ++bad <= 5) ADD_FAILURE() << what << " element " << i << ": gpu " << a[i] << " cpu " << b[i];
  EXPECT_EQ(bad, 0) << what << " of " << a.size();
}

// |gpu - cpu| <= max(one ulp of cpu (times `ulps`), 1e-12).
template <class T>
void expect_within_ulps(const Tensor& gpu, const Tensor& cpu, int ulps, const char* what) {
  const std::vector<T> a = gpu.to(Device::cpu()).to_vector<T>(), b = cpu.to_vector<T>();
  ASSERT_EQ(a.size(), b.size());
  int64_t bad = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const T ulp = std::nextafter(std::fabs(b[i]), std::numeric_limits<T>::infinity()) - std::fabs(b[i]);
    const double tol = std::max(double(ulp) * ulps, 1e-12);
    if (!(std::fabs(double(a[i]) - double(b[i])) <= tol) && ++bad <= 5)
      ADD_FAILURE() << what << " element " << i << ": gpu " << a[i] << " cpu " << b[i];
  }
  EXPECT_EQ(bad, 0) << what << " of " << a.size();
}

}  // namespace

TEST(CudaRandom, UniformsAreBitIdenticalToTheCpu) {
  NG_REQUIRE_GPU();
  // Offsets across the carry of the counter's low word, and a 64-bit seed.
  for (const auto& [seed, offset] : std::vector<std::pair<uint64_t, uint64_t>>{
           {0, 0}, {42, 7}, {0x0123456789abcdefull, 0xfffffff0ull}}) {
    for (const Shape& shape : kShapes) {
      Generator gc(seed, offset), gg(seed, offset);
      expect_equal<float>(rand(shape, gg, on_gpu(DType::f32)), rand(shape, gc, TensorOptions{}), "rand f32");
      EXPECT_EQ(gc.offset(), gg.offset());
      expect_equal<double>(rand(shape, gg, on_gpu(DType::f64)), rand(shape, gc, TensorOptions{}.with_dtype(DType::f64)),
                           "rand f64");
    }
  }
}

TEST(CudaRandom, NormalsMatchTheCpuToOneUlp) {
  NG_REQUIRE_GPU();
  for (const auto& [seed, offset] :
       std::vector<std::pair<uint64_t, uint64_t>>{{1, 0}, {0xdeadbeefcafeull, 0xfffffffdull}}) {
    for (const Shape& shape : kShapes) {
      Generator gc(seed, offset), gg(seed, offset);
      expect_within_ulps<float>(randn(shape, gg, on_gpu(DType::f32)), randn(shape, gc, TensorOptions{}), 1, "randn f32");
      expect_within_ulps<double>(randn(shape, gg, on_gpu(DType::f64)),
                                 randn(shape, gc, TensorOptions{}.with_dtype(DType::f64)), 8, "randn f64");
    }
  }
}

// The backend entry points write every element of a NaN-poisoned output,
// also through an output whose data pointer is not 16-byte aligned (the
// scalar path of the kernels).
TEST(CudaRandom, KernelsWriteEveryElementAlignedOrNot) {
  NG_REQUIRE_GPU();
#ifdef NANOGEN_WITH_CUDA
  for (int64_t n : {1, 2, 5, 1023, 4097, 100003}) {
    for (int64_t shift : {0, 1}) {
      const Tensor buf = test::poisoned({n + shift});
      const Tensor out = buf.narrow(0, shift, n);
      const Tensor ref = empty({n});
      cuda::uniform(out, 77, 5);
      cpu::uniform(ref, 77, 5);
      expect_equal<float>(out, ref, "uniform");
      cuda::normal(out, 78, 6);
      cpu::normal(ref, 78, 6);
      expect_within_ulps<float>(out, ref, 1, "normal");
      cuda::dropout_mask(out, 0.3, 79, 7);
      cpu::dropout_mask(ref, 0.3, 79, 7);
      expect_equal<float>(out, ref, "dropout_mask");
    }
  }
#endif
}

TEST(CudaRandom, BernoulliAndDropoutMasksAreIdentical) {
  NG_REQUIRE_GPU();
  for (const Shape& shape : kShapes) {
    for (DType dt : {DType::f32, DType::f64}) {
      const Tensor p = test::uniform(shape, 3, 0, 1, dt);
      Generator gc(5, 9), gg(5, 9);
      const Tensor b_gpu = bernoulli(p.to(test::gpu()), gg), b_cpu = bernoulli(p, gc);
      if (dt == DType::f32)
        expect_equal<float>(b_gpu, b_cpu, "bernoulli");
      else
        expect_equal<double>(b_gpu, b_cpu, "bernoulli");
      const Tensor x = test::uniform(shape, 4, -1, 1, dt);
      const Tensor d_gpu = dropout(x.to(test::gpu()), 0.4, true, gg), d_cpu = dropout(x, 0.4, true, gc);
      if (dt == DType::f32)
        expect_equal<float>(d_gpu, d_cpu, "dropout");
      else
        expect_equal<double>(d_gpu, d_cpu, "dropout");
      EXPECT_EQ(gc.offset(), gg.offset());
    }
  }
}

TEST(CudaRandom, BernoulliRejectsProbabilitiesOutsideTheUnitInterval) {
  NG_REQUIRE_GPU();
  const Tensor p = from_vector(std::vector<float>{0.5f, 1.5f, -0.1f, 0.2f, std::nanf("")}, {5}).to(test::gpu());
  try {
    bernoulli(p);
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("3 of the 5 probabilities"), std::string::npos) << e.what();
  }
}

TEST(CudaRandom, NonContiguousOutputIsAnError) {
  NG_REQUIRE_GPU();
#ifdef NANOGEN_WITH_CUDA
  const Tensor out = test::poisoned({4, 6}).t();
  EXPECT_THROW(cuda::uniform(out, 1, 0), Error);
#endif
}

// ---- cuRAND as a second oracle ------------------------------------------------------

#ifdef NANOGEN_WITH_CUDA
namespace {

#define NG_CURAND_CHECK(call) ASSERT_EQ((call), CURAND_STATUS_SUCCESS) << #call

struct CurandGenerator {
  curandGenerator_t gen = nullptr;
  ~CurandGenerator() {
    if (gen) curandDestroyGenerator(gen);
  }
};

}  // namespace
#endif

// The relation that holds, exactly: cuRAND's Philox4_32_10 is the same cipher
// keyed the same way (key = (lo32(seed), hi32(seed))), but its host generator
// with CURAND_ORDERING_PSEUDO_LEGACY hands out block j of a launch from
// subsequence j, i.e. counter (0, 0, lo32(j), hi32(j)) (cuRAND guide,
// "Generator types"; cuRANDDx's philox example states the same ordering),
// while nanogen counts blocks in the low words, counter (lo32(b), hi32(b), 0, 0).
// So both streams start with the same block (the all-zero counter), and
// cuRAND's block j equals philox4x32_10((0, 0, j, 0), key) computed with our
// kernels/philox.h. That checks our cipher against NVIDIA's, bit for bit.
TEST(CudaRandomCurand, SameCipherUnderTheLegacyOrdering) {
  NG_REQUIRE_GPU();
#ifdef NANOGEN_WITH_CUDA
  const uint64_t seed = 0x0123456789abcdefull;
  constexpr int64_t kBlocks = 64;  // far fewer than the generator's threads: one block each
  CurandGenerator g;
  NG_CURAND_CHECK(curandCreateGenerator(&g.gen, CURAND_RNG_PSEUDO_PHILOX4_32_10));
  NG_CURAND_CHECK(curandSetPseudoRandomGeneratorSeed(g.gen, seed));
  NG_CURAND_CHECK(curandSetGeneratorOrdering(g.gen, CURAND_ORDERING_PSEUDO_LEGACY));
  NG_CURAND_CHECK(curandSetStream(g.gen, cuda::stream(0)));
  const Tensor words = empty({kBlocks * 4}, on_gpu(DType::f32));  // 32-bit slots
  NG_CURAND_CHECK(curandGenerate(g.gen, static_cast<unsigned int*>(words.raw_data()), size_t(kBlocks * 4)));
  std::vector<uint32_t> got(size_t(kBlocks * 4));
  ASSERT_EQ(cudaMemcpyAsync(got.data(), words.raw_data(), got.size() * 4, cudaMemcpyDeviceToHost, cuda::stream(0)),
            cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(cuda::stream(0)), cudaSuccess);
  const kernels::PhiloxKey key{{uint32_t(seed), uint32_t(seed >> 32)}};
  for (int64_t j = 0; j < kBlocks; ++j) {
    const kernels::PhiloxWords ours = kernels::philox4x32_10({{0u, 0u, uint32_t(j), 0u}}, key);
    for (int k = 0; k < 4; ++k)
      EXPECT_EQ(got[size_t(4 * j + k)], ours.w[k])
          << "block " << j << " word " << k << ". If this fails while the known-answer vectors (test_random) and "
          << "the CPU/GPU comparisons pass, cuRAND's legacy ordering or seeding is not the one assumed here; "
          << "nanogen's own streams are unaffected.";
  }
  // Block 0 is also nanogen's first block of (seed, 0): the first uniform.
  Generator ng_gen(seed, 0);
  const std::vector<double> u = rand({4}, ng_gen, on_gpu(DType::f64)).to(Device::cpu()).to_vector<double>();
  for (int k = 0; k < 4; ++k) EXPECT_EQ(u[size_t(k)], (double(got[size_t(k)]) + 0.5) / 4294967296.0);
#endif
}

// Beyond the cipher the layouts differ, so for the distributions we compare
// samples: nanogen's randn against curandGenerateNormal (Philox, default
// ordering), 2^20 of each, by moments and by the two-sample Kolmogorov-
// Smirnov distance (critical value at p = 1e-6: 1.95 * sqrt(2 / n) = 0.0027).
TEST(CudaRandomCurand, NormalDistributionsAgree) {
  NG_REQUIRE_GPU();
#ifdef NANOGEN_WITH_CUDA
  constexpr int64_t n = int64_t(1) << 20;
  CurandGenerator g;
  NG_CURAND_CHECK(curandCreateGenerator(&g.gen, CURAND_RNG_PSEUDO_PHILOX4_32_10));
  NG_CURAND_CHECK(curandSetPseudoRandomGeneratorSeed(g.gen, 1234));
  NG_CURAND_CHECK(curandSetStream(g.gen, cuda::stream(0)));
  const Tensor theirs_gpu = empty({n}, on_gpu(DType::f32));
  NG_CURAND_CHECK(curandGenerateNormal(g.gen, theirs_gpu.data<float>(), size_t(n), 0.0f, 1.0f));
  Generator gen(1234);
  std::vector<float> ours = randn({n}, gen, on_gpu(DType::f32)).to(Device::cpu()).to_vector<float>();
  std::vector<float> theirs = theirs_gpu.to(Device::cpu()).to_vector<float>();
  for (const std::vector<float>* v : {&ours, &theirs}) {
    double m1 = 0, m2 = 0, m4 = 0;
    for (float x : *v) {
      m1 += x;
      m2 += double(x) * x;
      m4 += double(x) * x * x * x;
    }
    m1 /= double(n), m2 /= double(n), m4 /= double(n);
    // Standard errors: mean 1/sqrt(n) = 0.001, E[x^2] sqrt(2/n) = 0.0014, E[x^4] sqrt(96/n) = 0.0096.
    EXPECT_NEAR(m1, 0.0, 0.006);
    EXPECT_NEAR(m2, 1.0, 0.008);
    EXPECT_NEAR(m4, 3.0, 0.06);
  }
  std::sort(ours.begin(), ours.end());
  std::sort(theirs.begin(), theirs.end());
  double ks = 0;
  for (size_t i = 0, j = 0; i < ours.size() && j < theirs.size();) {
    if (ours[i] <= theirs[j]) ++i;
    else ++j;
    ks = std::max(ks, std::fabs(double(i) - double(j)) / double(n));
  }
  EXPECT_LT(ks, 0.0027) << "two-sample KS distance between nanogen's and cuRAND's normals";
#endif
}

TEST(CudaRandomCurand, UniformDistributionsAgree) {
  NG_REQUIRE_GPU();
#ifdef NANOGEN_WITH_CUDA
  constexpr int64_t n = int64_t(1) << 20;
  CurandGenerator g;
  NG_CURAND_CHECK(curandCreateGenerator(&g.gen, CURAND_RNG_PSEUDO_PHILOX4_32_10));
  NG_CURAND_CHECK(curandSetPseudoRandomGeneratorSeed(g.gen, 99));
  NG_CURAND_CHECK(curandSetStream(g.gen, cuda::stream(0)));
  const Tensor theirs_gpu = empty({n}, on_gpu(DType::f32));
  NG_CURAND_CHECK(curandGenerateUniform(g.gen, theirs_gpu.data<float>(), size_t(n)));
  Generator gen(99);
  const std::vector<float> ours = rand({n}, gen, on_gpu(DType::f32)).to(Device::cpu()).to_vector<float>();
  const std::vector<float> theirs = theirs_gpu.to(Device::cpu()).to_vector<float>();
  // 64-bin histograms: chi-square of each against uniform (63 dof; 99.9999th
  // percentile about 130), and both strictly inside (0, 1] / (0, 1).
  for (const std::vector<float>* v : {&ours, &theirs}) {
    std::vector<double> bins(64, 0);
    for (float x : *v) bins[std::min<size_t>(63, size_t(double(x) * 64))] += 1;
    double chi2 = 0;
    const double expect = double(n) / 64;
    for (double b : bins) chi2 += (b - expect) * (b - expect) / expect;
    EXPECT_LT(chi2, 130.0);
  }
  for (float x : ours) ASSERT_TRUE(x > 0.0f && x < 1.0f) << x;
#endif
}
