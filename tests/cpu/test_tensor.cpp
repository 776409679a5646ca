// Tensor storage, views, strides, broadcasting, factories and printing.
#include <gtest/gtest.h>

#include "engine/cpu/host_blocks.h"
#include "engine/memory.h"
#include "engine/nanogen.h"
#include "support/gradcheck.h"

using namespace ng;

static std::vector<double> values(const Tensor& t) { return t.to_vector<double>(); }

TEST(Tensor, FactoriesAndMetadata) {
  Tensor t = zeros({2, 3, 4});
  EXPECT_EQ(t.shape(), (Shape{2, 3, 4}));
  EXPECT_EQ(t.strides(), (Shape{12, 4, 1}));
  EXPECT_EQ(t.numel(), 24);
  EXPECT_EQ(t.dtype(), DType::f32);
  EXPECT_TRUE(t.device().is_cpu());
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(values(arange(5)), (std::vector<double>{0, 1, 2, 3, 4}));
  EXPECT_EQ(values(arange(1, 2, 0.25)), (std::vector<double>{1, 1.25, 1.5, 1.75}));
  EXPECT_EQ(values(linspace(0, 1, 5)), (std::vector<double>{0, 0.25, 0.5, 0.75, 1}));
  EXPECT_EQ(values(full({2}, 7.5, TensorOptions{}.with_dtype(DType::f64))), (std::vector<double>{7.5, 7.5}));
  EXPECT_EQ(scalar_tensor(3).dim(), 0);
  EXPECT_EQ(scalar_tensor(3).item(), 3.0);
  EXPECT_EQ(ones({3}).to(DType::f64).dtype(), DType::f64);
}

TEST(Tensor, ViewsShareStorage) {
  Tensor a = arange(12).reshape({3, 4});
  Tensor row = a.select(0, 1);
  Tensor col = a.narrow(1, 2, 1);
  Tensor tr = a.t();
  EXPECT_TRUE(row.shares_storage(a));
  EXPECT_TRUE(tr.shares_storage(a));
  EXPECT_EQ(values(row), (std::vector<double>{4, 5, 6, 7}));
  EXPECT_EQ(values(col), (std::vector<double>{2, 6, 10}));
  EXPECT_EQ(tr.strides(), (Shape{1, 4}));
  EXPECT_FALSE(tr.is_contiguous());
  EXPECT_EQ(values(tr), (std::vector<double>{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11}));
  row.fill_(-1);  // writes through the view
  EXPECT_EQ(a.select(0, 1).select(0, 3).item(), -1.0);
  EXPECT_EQ(tr.select(0, 3).select(0, 1).item(), -1.0);
}

TEST(Tensor, SliceWithStepAndNegativeBounds) {
  Tensor a = arange(10);
  EXPECT_EQ(values(a.slice(0, 1, 8, 3)), (std::vector<double>{1, 4, 7}));
  EXPECT_EQ(values(a.slice(0, -3, 10)), (std::vector<double>{7, 8, 9}));
  EXPECT_EQ(a.slice(0, 1, 8, 3).strides(), (Shape{3}));
}

TEST(Tensor, ExpandHasZeroStrides) {
  Tensor a = arange(3).reshape({3, 1});
  Tensor e = a.expand({2, 3, 4});
  EXPECT_EQ(e.strides(), (Shape{0, 1, 0}));
  EXPECT_EQ(values(e.select(0, 1).select(0, 2)), (std::vector<double>{2, 2, 2, 2}));
  EXPECT_EQ(values(a.expand({-1, 2})), (std::vector<double>{0, 0, 1, 1, 2, 2}));
}

TEST(Tensor, ReshapeViewsWhenPossibleAndCopiesOtherwise) {
  Tensor a = arange(24).reshape({2, 3, 4});
  Tensor v = a.view({6, 4});
  EXPECT_TRUE(v.shares_storage(a));
  Tensor p = a.permute({2, 0, 1});  // [4,2,3], not contiguous
  EXPECT_THROW(p.view({24}), Error);
  Tensor r = p.reshape({24});
  EXPECT_FALSE(r.shares_storage(a));
  EXPECT_EQ(values(r)[1], 4.0);  // p[0,0,1] = a[0,1,0]
  // A view across a contiguous chunk of a non-contiguous tensor works.
  Tensor t = arange(24).reshape({4, 6}).t();  // [6,4] strides [1,6]
  EXPECT_TRUE(t.unsqueeze(0).shares_storage(t));
  EXPECT_EQ(a.view({-1, 8}).shape(), (Shape{3, 8}));
  EXPECT_EQ(a.flatten(1).shape(), (Shape{2, 12}));
  EXPECT_EQ(a.unsqueeze(1).shape(), (Shape{2, 1, 3, 4}));
  EXPECT_EQ(a.unsqueeze(-1).shape(), (Shape{2, 3, 4, 1}));
  EXPECT_EQ(a.unsqueeze(1).squeeze(1).shape(), (Shape{2, 3, 4}));
  EXPECT_EQ(ones({1, 3, 1}).squeeze().shape(), (Shape{3}));
}

TEST(Tensor, ContiguousAndClone) {
  Tensor a = arange(6).reshape({2, 3});
  EXPECT_TRUE(a.contiguous().shares_storage(a));
  Tensor c = a.t().contiguous();
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_EQ(values(c), (std::vector<double>{0, 3, 1, 4, 2, 5}));
  Tensor k = a.clone();
  EXPECT_FALSE(k.shares_storage(a));
  k.fill_(0);
  EXPECT_EQ(values(a)[5], 5.0);
}

TEST(Tensor, CopyBroadcastsAndConverts) {
  Tensor dst = zeros({2, 3}, TensorOptions{}.with_dtype(DType::f64));
  dst.copy_(arange(3));
  EXPECT_EQ(values(dst), (std::vector<double>{0, 1, 2, 0, 1, 2}));
  EXPECT_THROW(dst.copy_(arange(4)), Error);
}

TEST(Tensor, BroadcastingArithmetic) {
  Tensor a = arange(3).reshape({3, 1});
  Tensor b = arange(4);
  Tensor c = a * 10.0 + b;
  EXPECT_EQ(c.shape(), (Shape{3, 4}));
  EXPECT_EQ(values(c), (std::vector<double>{0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23}));
  // Non-contiguous operands give the same values.
  Tensor m = test::uniform({5, 7}, 1);
  Tensor n = test::uniform({5, 7}, 2);
  test::expect_close(test::non_contiguous(m) + test::non_contiguous(n), m + n, 0.0);
  test::expect_close(m.t().contiguous() + n.t(), (m + n).t(), 0.0);
}

TEST(Tensor, ErrorsNameTheShapes) {
  Tensor a = zeros({2, 3}), b = zeros({4});
  try {
    (void)(a + b);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("add"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[2,3]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[4]"), std::string::npos) << msg;
  }
  try {
    (void)(zeros({2}) + zeros({2}, TensorOptions{}.with_dtype(DType::f64)));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("float64"), std::string::npos) << e.what();
  }
  EXPECT_THROW(a.view({5}), Error);
  EXPECT_THROW(a.narrow(1, 2, 2), Error);
  EXPECT_THROW(a.permute({0, 0}), Error);
  EXPECT_THROW(a.expand({3, 3}), Error);
  EXPECT_THROW(a.item(), Error);
}

TEST(Tensor, CudaWithoutBackendIsAClearError) {
  if (cuda_available()) GTEST_SKIP() << "a GPU is visible; this checks the no-GPU message";
  try {
    (void)zeros({2}, TensorOptions{}.with_device(Device::cuda(0)));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("CUDA"), std::string::npos) << e.what();
  }
  EXPECT_EQ(Device::parse("cuda:1"), Device::cuda(1));
  EXPECT_THROW(Device::parse("gpu"), Error);
}

// --precision is resolved against the device before any work: auto is fp32
// on the CPU, tf32 and bf16 are refused there with the reason, and unknown
// names list the accepted ones.
TEST(Precision, ResolvedAgainstTheDevice) {
  EXPECT_EQ(resolve_precision("auto", Device::cpu()), MatmulPrecision::fp32);
  EXPECT_EQ(resolve_precision("fp32", Device::cpu()), MatmulPrecision::fp32);
  EXPECT_EQ(resolve_precision("highest", Device::cpu()), MatmulPrecision::fp32);
  for (const char* name : {"tf32", "bf16", "high"}) {
    try {
      (void)resolve_precision(name, Device::cpu());
      FAIL() << name << ": expected an error";
    } catch (const Error& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find(std::string("--precision ") + name), std::string::npos) << m;
      EXPECT_NE(m.find("CUDA device"), std::string::npos) << m;
      EXPECT_NE(m.find("cpu"), std::string::npos) << m;
    }
  }
  try {
    (void)resolve_precision("fp16", Device::cpu());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'fp16'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("fp32, tf32 or bf16"), std::string::npos) << e.what();
  }
}

// Blocks of 32 MiB and up are kept and reused for the same size; a size
// without a kept block releases them all first (never more held than the
// live tensors would need without the cache).
TEST(HostBlocks, LargeBlocksAreReusedAndReleasedOnAMiss) {
  const size_t big = size_t(40) << 20, other = size_t(48) << 20;
  const cpu::HostBlockStats before = cpu::host_block_stats();
  void* a = cpu::allocate_host(big);
  cpu::release_host(a, big);
  EXPECT_EQ(cpu::host_block_stats().blocks, before.blocks + 1);
  void* b = cpu::allocate_host(big);
  EXPECT_EQ(b, a) << "the kept block is handed out again";
  EXPECT_EQ(cpu::host_block_stats().blocks, before.blocks);
  cpu::release_host(b, big);
  void* c = cpu::allocate_host(other);  // a miss: the kept block goes
  EXPECT_EQ(cpu::host_block_stats().blocks, 0u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(c) % 64, 0u);
  cpu::release_host(c, other);
  // Small blocks are not kept.
  void* d = cpu::allocate_host(1000);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(d) % 64, 0u);
  cpu::release_host(d, 1000);
  EXPECT_EQ(cpu::host_block_stats().blocks, 1u);  // c, the only large block since the miss
  // Tensors go through it: a large tensor freed and made again reuses the block.
  const void* first = nullptr;
  {
    const Tensor t = empty({int64_t(big / 4)});
    first = t.raw_data();
  }
  const Tensor again = empty({int64_t(big / 4)});
  EXPECT_EQ(again.raw_data(), first);
}

TEST(Tensor, Printing) {
  const std::string s = arange(4).reshape({2, 2}).str();
  EXPECT_NE(s.find("[[0, 1],"), std::string::npos) << s;
  EXPECT_NE(s.find("shape=[2,2]"), std::string::npos) << s;
  const std::string big = arange(100).str();
  EXPECT_NE(big.find("..."), std::string::npos) << big;
}

TEST(Tensor, AZeroDimTensorHasNoDimToName) {
  const Tensor s = scalar_tensor(2.5);
  ASSERT_EQ(s.dim(), 0);
  EXPECT_THROW(s.size(0), Error);  // once read past the end of an empty shape
  EXPECT_THROW(s.size(-1), Error);
  EXPECT_THROW(s.stride(0), Error);
  EXPECT_THROW(s.select(0, 0), Error);
  EXPECT_THROW(s.narrow(0, 0, 1), Error);
  EXPECT_THROW(s.unsqueeze(2), Error);
  // As in PyTorch, squeeze and transpose may name dim 0 / -1 of a scalar and
  // leave it as it is; flatten makes it one element long.
  EXPECT_EQ(s.squeeze(0).dim(), 0);
  EXPECT_EQ(s.squeeze(-1).item(), 2.5);
  EXPECT_EQ(s.transpose(0, -1).dim(), 0);
  EXPECT_EQ(s.transpose(-1, 0).item(), 2.5);
  EXPECT_THROW(s.squeeze(1), Error);
  EXPECT_EQ(s.flatten().shape(), Shape({1}));
  EXPECT_EQ(s.unsqueeze(0).shape(), Shape({1}));
  try {
    s.size(0);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("0-d"), std::string::npos) << e.what();
  }
}

// The one error path out of the CUDA backend: whatever a launch or library
// throws becomes an ng::Error naming the op and its tensors; an ng::Error
// (an argument check of the backend) passes as it is.
TEST(CudaBoundary, FailuresBecomeErrorsNamingTheOpAndShapes) {
  const Tensor x = zeros({2, 3}), w = zeros({4}, TensorOptions{}.with_dtype(DType::f64));
  test::expect_error([&] { run_on_cuda("conv2d", {x, w}, [] { throw std::runtime_error("CUDA error: boom"); }); },
                     {"conv2d ([2,3] float32 on cpu, [4] float64 on cpu) failed on the GPU: CUDA error: boom"});
  test::expect_error([&] { run_on_cuda("alloc", {}, [] { throw std::bad_alloc(); }); },
                     {"alloc failed on the GPU: std::bad_alloc"});
  try {
    run_on_cuda("softmax", {x}, [] { throw Error("softmax: the CUDA kernel needs a contiguous input"); });
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "softmax: the CUDA kernel needs a contiguous input");
  }
  int calls = 0;
  run_on_cuda("fill", {x}, [&] { ++calls; });
  EXPECT_EQ(calls, 1);
}

// A shape whose strides would overflow (a corrupt file's header can declare
// one, even with an empty dimension) is refused, not wrapped around.
TEST(Tensor, AShapeTooLargeToAddressIsRefused) {
  EXPECT_THROW(empty({0, 1, 3928489728, 4043309055}), Error);
  EXPECT_THROW(empty({int64_t(1) << 62, 4}), Error);
  EXPECT_EQ(empty({0, 1, 28, 28}).numel(), 0);
}
