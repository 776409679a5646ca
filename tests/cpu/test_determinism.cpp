// The CPU backend computes the same bits whatever the thread count, whether
// an op is the first of its process or not, and whatever OPENBLAS_NUM_THREADS
// says: the promise behind bit-exact resume (engine/cpu/blas.h says how).
#include <gtest/gtest.h>
#include <omp.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "engine/cpu/blas.h"
#include "engine/nanogen.h"
#include "engine/optim/optimizer.h"
#include "models/vae.h"

namespace ng {
namespace {

// FNV-1a over the tensor's bytes: equal hashes mean equal bits (as far as a
// 64-bit hash can tell, which is far enough for a test).
uint64_t bits_hash(const Tensor& t) {
  const Tensor c = t.detach().contiguous();
  const auto* p = static_cast<const unsigned char*>(c.raw_data());
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < size_t(c.numel()) * dtype_size(c.dtype()); ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

// Runs f with the engine on `threads` OpenMP threads.
template <class F>
auto with_threads(int threads, F&& f) {
  const int saved = omp_get_max_threads();
  omp_set_num_threads(threads);
  auto result = f();
  omp_set_num_threads(saved);
  return result;
}

// A 3x3 convolution of the U-Net's kind (Winograd) and a 4x4 stride-2 one of
// the GAN's (im2col + GEMM, two chunks of images: taken one after another on
// one or three threads, one a thread on two), with their gradients, as one hash.
uint64_t conv_bits() {
  Generator gen(7);
  const Tensor x = randn({8, 16, 14, 14}, gen).requires_grad_();
  const Tensor w = randn({32, 16, 3, 3}, gen).requires_grad_();
  const Tensor y = conv2d(x, w, {}, 1, 1);
  y.backward(randn(y.shape(), gen));
  const Tensor x2 = randn({16, 32, 14, 14}, gen).requires_grad_();
  const Tensor w2 = randn({48, 32, 4, 4}, gen).requires_grad_();
  const Tensor y2 = conv2d(x2, w2, {}, 2, 1);
  y2.backward(randn(y2.shape(), gen));
  return bits_hash(y) ^ (bits_hash(x.grad()) * 3) ^ (bits_hash(w.grad()) * 5) ^ (bits_hash(y2) * 7) ^
         (bits_hash(x2.grad()) * 9) ^ (bits_hash(w2.grad()) * 11);
}

// Products in every layout the engine hands to BLAS: plain, transposed,
// batched with a broadcast operand, float64, and shapes that cut into blocks.
uint64_t matmul_bits() {
  Generator gen(11);
  uint64_t h = 0;
  const Tensor a = randn({300, 700}, gen), b = randn({700, 500}, gen);
  h ^= bits_hash(matmul(a, b));
  h ^= bits_hash(matmul(b.t(), a.t())) * 3;
  const Tensor batch = randn({6, 64, 96}, gen), shared = randn({96, 200}, gen);
  h ^= bits_hash(matmul(batch, shared)) * 5;
  const TensorOptions f64 = TensorOptions{}.with_dtype(DType::f64);
  h ^= bits_hash(matmul(randn({129, 1000}, gen, f64), randn({1000, 77}, gen, f64))) * 7;
  h ^= bits_hash(matmul(randn({3, 5}, gen), randn({5, 2}, gen))) * 11;
  return h;
}

// Long reductions (whole-tensor and along dims) in float32 and float64.
uint64_t reduction_bits() {
  Generator gen(13);
  const Tensor x = randn({64, 3, 200, 50}, gen);
  uint64_t h = bits_hash(sum(x)) ^ (bits_hash(sum(x, {0, 2, 3})) * 3) ^ (bits_hash(mean(x, {1})) * 5);
  h ^= bits_hash(sum(x.to(DType::f64))) * 7;
  return h;
}

// Two Adam steps of a narrow VAE on random images: every op of a training
// step, forward and backward.
uint64_t training_step_bits() {
  Generator gen(3);
  models::VAEConfig config;
  config.conv1 = 8;
  config.conv2 = 16;
  config.hidden = 64;
  config.z_dim = 4;
  models::VAE vae(config, gen);
  optim::Adam adam(vae.named_parameters());
  for (int step = 0; step < 2; ++step) {
    const Tensor x = rand({16, 1, 28, 28}, gen), eps = randn({16, config.z_dim}, gen);
    adam.zero_grad();
    vae.loss(x, eps).loss.backward();
    adam.step();
  }
  uint64_t h = 0, i = 1;
  for (const auto& [name, p] : vae.named_parameters()) h ^= bits_hash(p) * (2 * i++ + 1);
  return h;
}

TEST(BlasBuild, IsTheOpenMPBuildOfOpenBLAS) {
  // The pthread build would still compute the same bits (the engine keeps it
  // on one thread), but it is not the library CMake links: if it is the one
  // loaded, the run path of the binaries is wrong.
  EXPECT_TRUE(cpu::blas::is_openmp_build());
}

TEST(BlasBuild, BlocksOfAProductDependOnItsShapeAlone) {
  EXPECT_EQ(cpu::blas::blocks_of({3, 5, 7, false, false, 7, 5, 5}), 1);  // too small to cut
  const cpu::blas::GemmShape big{4096, 512, 512, false, false, 512, 512, 512};
  const int64_t blocks = cpu::blas::blocks_of(big);
  EXPECT_GT(blocks, 1);
  EXPECT_EQ(with_threads(1, [&] { return cpu::blas::blocks_of(big); }), blocks);
  EXPECT_EQ(with_threads(3, [&] { return cpu::blas::blocks_of(big); }), blocks);
}

TEST(Determinism, ProductsConvolutionsAndSumsHaveTheSameBitsOnOneTwoAndThreeThreads) {
  for (auto [name, f] : std::vector<std::pair<const char*, uint64_t (*)()>>{
           {"matmul", matmul_bits}, {"conv", conv_bits}, {"reduce", reduction_bits}}) {
    const uint64_t one = with_threads(1, f);
    EXPECT_EQ(with_threads(2, f), one) << name;
    EXPECT_EQ(with_threads(3, f), one) << name;
  }
}

TEST(Determinism, ATrainingStepHasTheSameBitsOnOneAndTwoThreads) {
  EXPECT_EQ(with_threads(2, training_step_bits), with_threads(1, training_step_bits));
}

// Run by AFreshProcess... below in a child process: the convolution is the
// first op of the process, so its first BLAS call is the first of the
// process too (the case that once ran on OpenBLAS's own threads).
TEST(Determinism, DISABLED_ChildPrintsItsBits) {
  const uint64_t first_conv = conv_bits();
  const uint64_t matmul = matmul_bits(), step = training_step_bits();
  const uint64_t later_conv = conv_bits();
  std::printf("BITS first_conv=%016llx later_conv=%016llx matmul=%016llx step=%016llx\n",
              (unsigned long long)first_conv, (unsigned long long)later_conv, (unsigned long long)matmul,
              (unsigned long long)step);
}

// Run by AProductLeavesTheThreadCountAlone below in a child process: a
// product as the first op of the process, from outside any parallel region.
TEST(Determinism, DISABLED_ChildPrintsItsThreadCountAroundAProduct) {
  const int before = omp_get_max_threads();
  Generator gen(5);
  const uint64_t product = bits_hash(matmul(randn({256, 256}, gen), randn({256, 256}, gen)));
  std::printf("BITS threads_before=%d threads_after=%d product=%016llx\n", before, omp_get_max_threads(),
              (unsigned long long)product);
}

// The line the child (the test `child`) printed, or "" when it printed none.
std::string run_child(const std::string& env, const std::string& child = "DISABLED_ChildPrintsItsBits") {
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  const std::string command = "env " + env + " '" + self +
                              "' --gtest_also_run_disabled_tests --gtest_filter=Determinism." + child;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  if (!pipe) return "";
  std::string line, found;
  char buffer[512];
  while (std::fgets(buffer, sizeof buffer, pipe.get())) {
    line = buffer;
    if (line.rfind("BITS ", 0) == 0) found = line.substr(0, line.find('\n'));
  }
  return found;
}

std::map<std::string, std::string> fields(const std::string& line) {
  std::map<std::string, std::string> out;
  std::istringstream in(line.substr(5));
  std::string item;
  while (in >> item) out[item.substr(0, item.find('='))] = item.substr(item.find('=') + 1);
  return out;
}

TEST(Determinism, AFreshProcessComputesTheSameBitsFirstAndLaterWhateverTheThreadSettings) {
  // OPENBLAS_NUM_THREADS unset and set, OMP_NUM_THREADS unset and set: each
  // child must agree with itself (first op = later op) and with every other.
  const std::vector<std::string> environments = {
      "-u OPENBLAS_NUM_THREADS -u OMP_NUM_THREADS",  "-u OPENBLAS_NUM_THREADS OMP_NUM_THREADS=1",
      "-u OPENBLAS_NUM_THREADS OMP_NUM_THREADS=2",   "-u OMP_NUM_THREADS OPENBLAS_NUM_THREADS=1",
      "OPENBLAS_NUM_THREADS=2 OMP_NUM_THREADS=2",     "OPENBLAS_NUM_THREADS=4 OMP_NUM_THREADS=3"};
  std::map<std::string, std::string> reference;
  for (const std::string& env : environments) {
    const std::string line = run_child(env);
    ASSERT_FALSE(line.empty()) << "the child run with `env " << env << "` printed no BITS line";
    const auto bits = fields(line);
    EXPECT_EQ(bits.at("first_conv"), bits.at("later_conv")) << "env " << env;
    if (reference.empty()) reference = bits;
    EXPECT_EQ(bits, reference) << "env " << env << " gave " << line;
  }
}

// No product may change the engine's thread count. (Told to run serially
// through openblas_set_num_threads, the OpenMP build of OpenBLAS once set
// the calling thread's OpenMP count to 1 for good: `--threads 2` then ran
// every op after the first product on one thread.)
TEST(Determinism, AProductLeavesTheThreadCountAlone) {
  const std::string line = run_child("-u OPENBLAS_NUM_THREADS OMP_NUM_THREADS=2",
                                     "DISABLED_ChildPrintsItsThreadCountAroundAProduct");
  ASSERT_FALSE(line.empty()) << "the child printed no BITS line";
  const auto counts = fields(line);
  EXPECT_EQ(counts.at("threads_before"), "2");
  EXPECT_EQ(counts.at("threads_after"), "2");
}

}  // namespace
}  // namespace ng
