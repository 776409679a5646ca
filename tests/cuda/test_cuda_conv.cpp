// The CUDA convolutions (kernels/conv.h through engine/cuda/conv.cpp) against
// their CPU twins (engine/cpu/conv.h) and cuDNN.
//
// Tolerance: a float32 result that sums n products must lie within
// n * eps32 * (the same sum over absolute values) of the exact value, for any
// summation order (the standard bound of a dot product, gamma_n <= n eps32).
// The exact value and the magnitude come from the CPU kernels in float64 on
// the same (float32) inputs; the float64 GPU path is held to n * eps64 the
// same way. Every GPU output is NaN-poisoned first, so an element the kernel
// skipped fails.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "support/cuda.h"
#include "support/gradcheck.h"

#if NANOGEN_WITH_CUDA
#include <cuda_runtime_api.h>

#include "engine/cpu/conv.h"
#include "engine/cuda/backend.h"
#include "engine/cuda/runtime.h"
#include "kernels/conv.h"
#include "kernels/cuda_check.h"
#endif
#if NANOGEN_HAVE_CUDNN
#include "support/cudnn_conv.h"
#endif

using namespace ng;

#if NANOGEN_WITH_CUDA

namespace {

const TensorOptions kF32 = TensorOptions{}.with_dtype(DType::f32);
const TensorOptions kF64 = TensorOptions{}.with_dtype(DType::f64);

// One convolution: x [n,cin,h,w], w [cout,cin,kh,kw], stride, padding.
struct Case {
  int64_t n, cin, h, w, cout, kh, kw, stride, pad;

  int64_t ho() const { return (h + 2 * pad - kh) / stride + 1; }
  int64_t wo() const { return (w + 2 * pad - kw) / stride + 1; }
  Shape x_shape() const { return {n, cin, h, w}; }
  Shape w_shape() const { return {cout, cin, kh, kw}; }
  Shape y_shape() const { return {n, cout, ho(), wo()}; }
  kernels::ConvGeometry geometry() const { return {n, cin, h, w, cout, kh, kw, stride, pad, ho(), wo()}; }
  std::string str() const {
    std::ostringstream s;
    s << "x [" << n << "," << cin << "," << h << "," << w << "] w [" << cout << "," << cin << "," << kh << "," << kw
      << "] stride " << stride << " pad " << pad;
    return s.str();
  }
};

Tensor gpu(const Tensor& t) { return t.defined() ? t.to(test::gpu()) : Tensor(); }
Tensor host64(const Tensor& t) { return t.to(Device::cpu()).to(DType::f64); }

// Checks |got - exact| <= terms * eps * magnitude elementwise (NaN fails).
// A float64 `got` is compared with a float64 CPU result, itself that far from
// the exact value: twice the bound then.
void expect_within_bound(const Tensor& got, const Tensor& exact, const Tensor& magnitude, double terms,
                         const std::string& what) {
  ASSERT_EQ(got.shape(), exact.shape()) << what;
  const double eps = got.dtype() == DType::f32 ? std::numeric_limits<float>::epsilon()
                                               : 2 * std::numeric_limits<double>::epsilon();
  const std::vector<double> g = host64(got).to_vector<double>(), e = exact.to_vector<double>(),
                            m = magnitude.to_vector<double>();
  int64_t bad = 0;
  std::ostringstream first;
  for (size_t i = 0; i < g.size(); ++i) {
    const double bound = terms * eps * m[i] + 1e-300;
    if (!(std::fabs(g[i] - e[i]) <= bound)) {  // written so that NaN fails
      if (bad++ < 5) first << "  [" << i << "] got " << g[i] << ", exact " << e[i] << ", bound " << bound << "\n";
    }
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << g.size() << " elements outside the bound\n" << first.str();
}

// ---- the three kernels through the backend, outputs poisoned -------------

struct Inputs {
  Tensor x, w, b, dy;  // on the CPU, of the dtype under test
};

Inputs random_inputs(const Case& c, uint64_t seed, DType dtype, bool bias) {
  Inputs in;
  in.x = test::uniform(c.x_shape(), seed, -1, 1, dtype);
  in.w = test::uniform(c.w_shape(), seed + 1, -1, 1, dtype);
  in.dy = test::uniform(c.y_shape(), seed + 2, -1, 1, dtype);
  if (bias) in.b = test::uniform({c.cout}, seed + 3, -1, 1, dtype);
  return in;
}

// y = conv2d(x, w) + b on the GPU vs the CPU in float64.
void check_forward(const Case& c, const Inputs& in, const std::string& what) {
  const Tensor y = test::poisoned(c.y_shape(), in.x.dtype());
  cuda::conv2d_forward(y, gpu(in.x), gpu(in.w), gpu(in.b), c.stride, c.pad);
  const Tensor exact = empty(c.y_shape(), kF64), mag = empty(c.y_shape(), kF64);
  cpu::conv2d_forward(exact, host64(in.x), host64(in.w), in.b.defined() ? host64(in.b) : Tensor(), c.stride, c.pad);
  cpu::conv2d_forward(mag, abs(host64(in.x)), abs(host64(in.w)), in.b.defined() ? abs(host64(in.b)) : Tensor(),
                      c.stride, c.pad);
  expect_within_bound(y, exact, mag, double(c.cin * c.kh * c.kw + 1), "forward " + what);
}

// dx = conv2d^T(dy, w) (+ b [cin], conv_transpose2d's bias) into an image of h x w.
void check_input_grad(const Case& c, const Inputs& in, const std::string& what, bool bias = false) {
  const Tensor b = bias ? test::uniform({c.cin}, 99, -1, 1, in.x.dtype()) : Tensor();
  const Tensor dx = test::poisoned(c.x_shape(), in.x.dtype());
  cuda::conv2d_input_grad(dx, gpu(in.dy), gpu(in.w), gpu(b), c.stride, c.pad);
  const Tensor exact = empty(c.x_shape(), kF64), mag = empty(c.x_shape(), kF64);
  cpu::conv2d_input_grad(exact, host64(in.dy), host64(in.w), b.defined() ? host64(b) : Tensor(), c.stride, c.pad);
  cpu::conv2d_input_grad(mag, abs(host64(in.dy)), abs(host64(in.w)), b.defined() ? abs(host64(b)) : Tensor(),
                         c.stride, c.pad);
  expect_within_bound(dx, exact, mag, double(c.cout * c.kh * c.kw + 1), "input grad " + what);
}

// dw = sum over n, oh, ow of dy x patches(x): n*ho*wo terms.
void check_weight_grad(const Case& c, const Inputs& in, const std::string& what) {
  const Tensor dw = test::poisoned(c.w_shape(), in.x.dtype());
  cuda::conv2d_weight_grad(dw, gpu(in.x), gpu(in.dy), c.stride, c.pad);
  const Tensor exact = empty(c.w_shape(), kF64), mag = empty(c.w_shape(), kF64);
  cpu::conv2d_weight_grad(exact, host64(in.x), host64(in.dy), c.stride, c.pad);
  cpu::conv2d_weight_grad(mag, abs(host64(in.x)), abs(host64(in.dy)), c.stride, c.pad);
  expect_within_bound(dw, exact, mag, double(std::max<int64_t>(c.n * c.ho() * c.wo(), 1)), "weight grad " + what);
}

void check_all(const Case& c, uint64_t seed, DType dtype = DType::f32) {
  const Inputs in = random_inputs(c, seed, dtype, true);
  check_forward(c, in, c.str());
  Inputs no_bias = in;
  no_bias.b = Tensor();
  check_forward(c, no_bias, c.str() + " (no bias)");
  check_input_grad(c, in, c.str());
  check_input_grad(c, in, c.str() + " (bias)", true);
  check_weight_grad(c, in, c.str());
}

// The exact results of a case's three products and the magnitudes their
// bounds scale with (the same sums over absolute values), from the CPU
// kernels in float64 on the float32 inputs. The bias enters the forward only.
struct Exact {
  Tensor y, y_mag, dx, dx_mag, dw, dw_mag;
};

Exact exact_of(const Case& c, const Inputs& in) {
  Exact e{empty(c.y_shape(), kF64), empty(c.y_shape(), kF64), empty(c.x_shape(), kF64),
          empty(c.x_shape(), kF64), empty(c.w_shape(), kF64), empty(c.w_shape(), kF64)};
  const Tensor b = in.b.defined() ? host64(in.b) : Tensor(), b_mag = in.b.defined() ? abs(host64(in.b)) : Tensor();
  cpu::conv2d_forward(e.y, host64(in.x), host64(in.w), b, c.stride, c.pad);
  cpu::conv2d_forward(e.y_mag, abs(host64(in.x)), abs(host64(in.w)), b_mag, c.stride, c.pad);
  cpu::conv2d_input_grad(e.dx, host64(in.dy), host64(in.w), Tensor(), c.stride, c.pad);
  cpu::conv2d_input_grad(e.dx_mag, abs(host64(in.dy)), abs(host64(in.w)), Tensor(), c.stride, c.pad);
  cpu::conv2d_weight_grad(e.dw, host64(in.x), host64(in.dy), c.stride, c.pad);
  cpu::conv2d_weight_grad(e.dw_mag, abs(host64(in.x)), abs(host64(in.dy)), c.stride, c.pad);
  return e;
}

// ‖a - b‖ / ‖b‖ over all elements, in float64 on the CPU.
double relative_error(const Tensor& a, const Tensor& b) {
  const std::vector<double> x = host64(a).to_vector<double>(), y = host64(b).to_vector<double>();
  double num = 0, den = 0;
  for (size_t i = 0; i < x.size(); ++i) num += (x[i] - y[i]) * (x[i] - y[i]), den += y[i] * y[i];
  return std::sqrt(num / std::max(den, 1e-300));
}

std::vector<float> device_floats(const Tensor& t) { return t.to(Device::cpu()).to_vector<float>(); }

}  // namespace

// Every combination the brief asks for: kernel 3 and 4, stride 1/2/3,
// padding 0/1/2, batch 1 and 7, on odd images with Cin = 3, Cout = 5.
TEST(CudaConv, AwkwardShapesMatchTheCpu) {
  NG_REQUIRE_GPU();
  uint64_t seed = 100;
  for (int64_t k : {3, 4})
    for (int64_t s : {1, 2, 3})
      for (int64_t p : {0, 1, 2})
        for (int64_t n : {1, 7}) check_all({n, 3, 11, 9, 5, k, k, s, p}, seed += 10);
}

// Sizes around and past the tiles: channels past 32/64/128, pixel counts
// that leave partial tiles, a non-square kernel, 1x1 kernels, and strides
// larger than the kernel (input-gradient phases that no tap reaches: those
// pixels get just the bias).
TEST(CudaConv, TileEdgesAndOddGeometry) {
  NG_REQUIRE_GPU();
  const std::vector<Case> cases = {
      {2, 37, 23, 19, 70, 3, 3, 1, 1},    // Cout > 64: 128-wide tiles, Cin*9 = 333 not a multiple of 8
      {3, 17, 13, 13, 130, 3, 3, 2, 1},   // Cout > 128: two column tiles
      {5, 64, 9, 9, 33, 4, 4, 2, 1},      // Cout = 33: just past 32
      {1, 2, 31, 29, 1, 5, 5, 1, 2},      // one output channel
      {4, 6, 15, 17, 7, 2, 5, 1, 0},      // kh != kw
      {3, 9, 10, 12, 11, 1, 1, 1, 0},     // 1x1
      {2, 5, 12, 11, 4, 1, 1, 2, 0},      // 1x1 at stride 2: three of four dx phases have no tap
      {2, 4, 14, 13, 6, 2, 2, 3, 1},      // stride 3 > kernel 2
      {7, 3, 5, 4, 8, 3, 3, 3, 2},        // tiny images, padding 2
      {1, 1, 1, 1, 3, 1, 1, 1, 0},        // a single pixel
      {130, 2, 3, 3, 3, 3, 3, 1, 1},      // many images of 9 pixels: rows cross images inside a tile
  };
  uint64_t seed = 500;
  for (const Case& c : cases) check_all(c, seed += 10);
}

// The canonical models' convolutions at batch 3 (the ConvTranspose layers
// are the input gradients of these same geometries).
TEST(CudaConv, CanonicalModelShapes) {
  NG_REQUIRE_GPU();
  const std::vector<Case> cases = {
      {3, 1, 28, 28, 32, 4, 4, 2, 1},    // VAE enc 0; dec 1 is its transpose
      {3, 32, 14, 14, 64, 4, 4, 2, 1},   // VAE enc 1; dec 0
      {3, 1, 28, 28, 64, 4, 4, 2, 1},    // DCGAN D 0; G's last ConvT
      {3, 64, 14, 14, 128, 4, 4, 2, 1},  // DCGAN D 1; G's first ConvT
      {3, 1, 28, 28, 64, 3, 3, 1, 1},    // U-Net stem
      {3, 64, 28, 28, 64, 3, 3, 1, 1},   // U-Net level 0
      {3, 64, 28, 28, 64, 3, 3, 2, 1},   // U-Net downsample
      {3, 128, 14, 14, 128, 3, 3, 1, 1}, // U-Net level 1
      {3, 256, 7, 7, 128, 3, 3, 1, 1},   // U-Net up path (concatenated skip)
      {3, 256, 14, 14, 128, 1, 1, 1, 0}, // U-Net 1x1 skip
      {3, 64, 28, 28, 1, 3, 3, 1, 1},    // U-Net output
  };
  uint64_t seed = 900;
  for (const Case& c : cases) check_all(c, seed += 10);
}

TEST(CudaConv, Float64DirectKernelsMatchTheCpu) {
  NG_REQUIRE_GPU();
  const std::vector<Case> cases = {{2, 3, 11, 9, 5, 3, 3, 2, 1}, {1, 4, 8, 7, 6, 4, 4, 2, 1},
                                   {3, 2, 10, 10, 3, 1, 1, 3, 0}, {2, 5, 9, 12, 4, 2, 3, 1, 2}};
  uint64_t seed = 1300;
  for (const Case& c : cases) check_all(c, seed += 10, DType::f64);
}

// Every tile shape the launchers offer computes the same float32 bits
// (each output sums its products in the same order), and the weight
// gradient's split count keeps it within the bound. Two shapes: one whose
// output planes (7x6) rule out the float4 epilogue, one (8x8) that uses it.
TEST(CudaConv, EveryTileGivesTheSameBits) {
  NG_REQUIRE_GPU();
  const int tiles[][2] = {{128, 128}, {128, 64}, {128, 32}, {64, 128}, {64, 64}, {64, 32}, {128, 16}, {256, 4}};
  const int weight_tiles[][2] = {{128, 128}, {64, 128}, {32, 128}, {64, 32}, {32, 32}, {64, 16}, {32, 16}, {4, 128}};
  const cudaStream_t s = cuda::stream(0);
  for (const Case& c : {Case{3, 19, 13, 11, 45, 3, 3, 2, 1}, Case{2, 6, 16, 16, 9, 4, 4, 2, 1}}) {
    const Inputs in = random_inputs(c, 1500, DType::f32, true);
    const Tensor x = gpu(in.x), w = gpu(in.w), b = gpu(in.b), dy = gpu(in.dy);
    const kernels::ConvGeometry g = c.geometry();
    check_forward(c, in, "tile reference " + c.str());  // the automatic tile, against the CPU
    check_input_grad(c, in, "tile reference " + c.str());
    std::vector<float> y_ref, dx_ref;
    for (const auto& [tm, tn] : tiles) {
      const kernels::ConvTuning tune{tm, tn, 0};
      const Tensor y = test::poisoned(c.y_shape()), dx = test::poisoned(c.x_shape());
      kernels::launch_conv2d_forward(kernels::ScalarType::f32, g, y.raw_data(), x.raw_data(), w.raw_data(),
                                     b.raw_data(), {}, s, tune);
      kernels::launch_conv2d_input_grad(kernels::ScalarType::f32, g, dx.raw_data(), dy.raw_data(), w.raw_data(),
                                        nullptr, s, tune);
      const std::vector<float> yv = device_floats(y), dxv = device_floats(dx);
      if (y_ref.empty()) {
        const Tensor auto_y = test::poisoned(c.y_shape()), auto_dx = test::poisoned(c.x_shape());
        cuda::conv2d_forward(auto_y, x, w, b, c.stride, c.pad);
        cuda::conv2d_input_grad(auto_dx, dy, w, Tensor(), c.stride, c.pad);
        y_ref = device_floats(auto_y), dx_ref = device_floats(auto_dx);
      }
      const std::string tile = std::to_string(tm) + "x" + std::to_string(tn) + " " + c.str();
      EXPECT_EQ(std::memcmp(yv.data(), y_ref.data(), yv.size() * sizeof(float)), 0) << "forward tile " << tile;
      EXPECT_EQ(std::memcmp(dxv.data(), dx_ref.data(), dxv.size() * sizeof(float)), 0) << "input grad tile " << tile;
    }
    // Weight gradient: every tile and a few split counts, each within the bound.
    const Tensor exact = empty(c.w_shape(), kF64), mag = empty(c.w_shape(), kF64);
    cpu::conv2d_weight_grad(exact, host64(in.x), host64(in.dy), c.stride, c.pad);
    cpu::conv2d_weight_grad(mag, abs(host64(in.x)), abs(host64(in.dy)), c.stride, c.pad);
    for (const auto& [tm, tn] : weight_tiles)
      for (int splits : {1, 3, 0}) {
        const kernels::ConvTuning tune{tm, tn, splits};
        const size_t bytes = kernels::conv2d_weight_grad_workspace(kernels::ScalarType::f32, g, tune);
        const Tensor ws = bytes ? empty({int64_t(bytes / 4)}, kF32.with_device(test::gpu())) : Tensor();
        const Tensor dw = test::poisoned(c.w_shape());
        kernels::launch_conv2d_weight_grad(kernels::ScalarType::f32, g, dw.raw_data(), x.raw_data(), dy.raw_data(),
                                           bytes ? ws.raw_data() : nullptr, s, tune);
        expect_within_bound(dw, exact, mag, double(c.n * c.ho() * c.wo()),
                            "weight grad tile " + std::to_string(tm) + "x" + std::to_string(tn) + " splits " +
                                std::to_string(splits) + " " + c.str());
      }
  }
}

// The tf32 tensor-core forward, input gradient and weight gradient (with a
// few split counts), on every tf32 tile, the automatic choice and through the
// backend under MatmulPrecision::tf32.
//
// Tolerance. Each operand is rounded to tf32 (cvt.rna keeps 10 fraction bits:
// relative error at most u = 2^-11), so each product a b carries a relative
// error of at most (1 + u)^2 - 1 < 2^-10 * 1.01; the products are then summed
// in fp32, n terms, within n * eps32 as for the fp32 kernels. Against the exact
// value: |got - exact| <= (2^-10 * 1.01 / eps32 + n) * eps32 * sum |a b|, i.e.
// terms = 2^13 * 1.01 + n in expect_within_bound's units of eps32 = 2^-23.
// A kernel that skipped the rounding would pass too (it is more accurate);
// the check that tf32 actually ran is that the result differs from fp32's.
TEST(CudaConv, Tf32TensorCoresStayWithinTheirBound) {
  NG_REQUIRE_GPU();
  const int tiles[][2] = {{0, 0}, {128, 128}, {128, 64}, {64, 128}, {64, 64}};
  const double rounding = std::ldexp(1.0, 13) * 1.01;
  const cudaStream_t s = cuda::stream(0);
  const std::vector<Case> cases = {
      {3, 64, 28, 28, 64, 3, 3, 1, 1},    // U-Net level 0
      {3, 128, 14, 14, 128, 3, 3, 1, 1},  // U-Net level 1
      {3, 256, 7, 7, 128, 3, 3, 1, 1},    // U-Net up path
      {3, 64, 28, 28, 64, 3, 3, 2, 1},    // U-Net downsample (stride 2)
      {3, 32, 14, 14, 64, 4, 4, 2, 1},    // VAE encoder 1 / decoder 0
      {2, 19, 13, 11, 45, 3, 3, 2, 1},    // odd everything
      {1, 5, 9, 7, 130, 2, 3, 1, 2},      // more channels than a tile, K = 30
  };
  uint64_t seed = 3100;
  for (const Case& c : cases) {
    const Inputs in = random_inputs(c, seed += 10, DType::f32, true);
    const Tensor x = gpu(in.x), w = gpu(in.w), b = gpu(in.b), dy = gpu(in.dy);
    const kernels::ConvGeometry g = c.geometry();
    const Exact e = exact_of(c, in);
    const Tensor &ey = e.y, &my = e.y_mag, &edx = e.dx, &mdx = e.dx_mag, &edw = e.dw, &mdw = e.dw_mag;
    const double nf = double(c.cin * c.kh * c.kw + 1), nd = double(c.cout * c.kh * c.kw),
                 nw = double(c.n * c.ho() * c.wo());
    for (const auto& [tm, tn] : tiles)
      for (int splits : {0, 1, 3}) {
        kernels::ConvTuning tune{tm, tn, splits};
        tune.math = kernels::ConvMath::tf32;
        const std::string tile = "tf32 tile " + std::to_string(tm) + "x" + std::to_string(tn) + " splits " +
                                 std::to_string(splits) + " " + c.str();
        if (splits == 0) {  // the split is the weight gradient's alone
          const Tensor y = test::poisoned(c.y_shape()), dx = test::poisoned(c.x_shape());
          kernels::launch_conv2d_forward(kernels::ScalarType::f32, g, y.raw_data(), x.raw_data(), w.raw_data(),
                                         b.raw_data(), {}, s, tune);
          kernels::launch_conv2d_input_grad(kernels::ScalarType::f32, g, dx.raw_data(), dy.raw_data(), w.raw_data(),
                                            nullptr, s, tune);
          expect_within_bound(y, ey, my, rounding + nf, "forward " + tile);
          expect_within_bound(dx, edx, mdx, rounding + nd, "input grad " + tile);
        }
        const size_t bytes = kernels::conv2d_weight_grad_workspace(kernels::ScalarType::f32, g, tune);
        const Tensor ws = bytes ? empty({int64_t(bytes / 4)}, kF32.with_device(test::gpu())) : Tensor();
        const Tensor dw = test::poisoned(c.w_shape());
        kernels::launch_conv2d_weight_grad(kernels::ScalarType::f32, g, dw.raw_data(), x.raw_data(), dy.raw_data(),
                                           bytes ? ws.raw_data() : nullptr, s, tune);
        expect_within_bound(dw, edw, mdw, rounding + nw, "weight grad " + tile);
      }
    // Through the backend: the precision setting reaches the kernels.
    const Tensor y32 = test::poisoned(c.y_shape()), ytf = test::poisoned(c.y_shape());
    cuda::conv2d_forward(y32, x, w, b, c.stride, c.pad);
    {
      MatmulPrecisionGuard tf32(MatmulPrecision::tf32);
      cuda::conv2d_forward(ytf, x, w, b, c.stride, c.pad);
    }
    expect_within_bound(ytf, ey, my, rounding + nf, "forward through the backend, tf32 " + c.str());
    EXPECT_GT(relative_error(ytf, y32), 0.0) << "tf32 gave fp32's bits: the tensor cores did not run " << c.str();
    const Tensor dw32 = test::poisoned(c.w_shape()), dwtf = test::poisoned(c.w_shape());
    cuda::conv2d_weight_grad(dw32, x, dy, c.stride, c.pad);
    {
      MatmulPrecisionGuard tf32(MatmulPrecision::tf32);
      cuda::conv2d_weight_grad(dwtf, x, dy, c.stride, c.pad);
    }
    expect_within_bound(dwtf, edw, mdw, rounding + nw, "weight grad through the backend, tf32 " + c.str());
    EXPECT_GT(relative_error(dwtf, dw32), 0.0) << "tf32 weight grad gave fp32's bits " << c.str();
  }
}

// The tf32 kernels against cuDNN's with TF32 tensor ops (CUDNN_TENSOR_OP_MATH):
// both within the tf32 bound of the exact value, hence of each other.
#if NANOGEN_HAVE_CUDNN
TEST(CudaConv, Tf32AgreesWithCudnnTensorOps) {
  NG_REQUIRE_GPU();
  const double rounding = std::ldexp(1.0, 13) * 1.01;
  const test::CudnnHandle handle(cuda::stream(0));
  uint64_t seed = 3300;
  for (const Case& c : {Case{3, 64, 28, 28, 64, 3, 3, 1, 1}, Case{3, 32, 14, 14, 64, 4, 4, 2, 1},
                        Case{4, 128, 7, 7, 130, 3, 3, 1, 1}}) {
    const Inputs in = random_inputs(c, seed += 10, DType::f32, false);
    const Tensor x = gpu(in.x), w = gpu(in.w);
    const test::CudnnConv conv(c.geometry(), CUDNN_DATA_FLOAT, CUDNN_TENSOR_OP_MATH);
    const auto fa = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;  // supported for every shape
    const size_t bytes = conv.forward_workspace(handle.get(), fa);
    const Tensor ws = bytes ? empty({int64_t((bytes + 3) / 4)}, kF32.with_device(test::gpu())) : Tensor();
    const Tensor ref = test::poisoned(c.y_shape()), y = test::poisoned(c.y_shape());
    conv.forward(handle.get(), fa, ws.defined() ? ws.raw_data() : nullptr, bytes, x.raw_data(), w.raw_data(),
                 ref.raw_data());
    {
      MatmulPrecisionGuard tf32(MatmulPrecision::tf32);
      cuda::conv2d_forward(y, x, w, Tensor(), c.stride, c.pad);
    }
    const Tensor ey = empty(c.y_shape(), kF64), my = empty(c.y_shape(), kF64);
    cpu::conv2d_forward(ey, host64(in.x), host64(in.w), Tensor(), c.stride, c.pad);
    cpu::conv2d_forward(my, abs(host64(in.x)), abs(host64(in.w)), Tensor(), c.stride, c.pad);
    const double n = double(c.cin * c.kh * c.kw);
    expect_within_bound(ref, ey, my, rounding + n, "cuDNN tf32 forward " + c.str());
    expect_within_bound(y, host64(ref), my, 2 * (rounding + n), "ours vs cuDNN, tf32 forward " + c.str());
  }
}
#endif

// The split-K weight gradient is reproducible: same inputs, same bits.
TEST(CudaConv, WeightGradIsDeterministic) {
  NG_REQUIRE_GPU();
  const Case c{16, 8, 28, 28, 16, 4, 4, 2, 1};  // a long reduction: 3136 pixels, split many ways
  const Inputs in = random_inputs(c, 1700, DType::f32, false);
  const Tensor x = gpu(in.x), dy = gpu(in.dy);
  EXPECT_GT(kernels::conv2d_weight_grad_workspace(kernels::ScalarType::f32, c.geometry()), 0u)
      << "this shape should use the split reduction";
  std::vector<float> first;
  for (int run = 0; run < 3; ++run) {
    const Tensor dw = test::poisoned(c.w_shape());
    cuda::conv2d_weight_grad(dw, x, dy, c.stride, c.pad);
    const std::vector<float> v = device_floats(dw);
    if (run == 0) first = v;
    else EXPECT_EQ(std::memcmp(v.data(), first.data(), v.size() * sizeof(float)), 0) << "run " << run;
  }
  check_weight_grad(c, in, "deterministic case");
}

// The fused epilogue: bias then relu / leaky_relu / silu, as the separate ops compute them.
TEST(CudaConv, FusedActivationEpilogue) {
  NG_REQUIRE_GPU();
  const Case c{3, 7, 14, 14, 20, 3, 3, 1, 1};
  const Inputs in = random_inputs(c, 1900, DType::f32, true);
  const Tensor x = gpu(in.x), w = gpu(in.w), b = gpu(in.b);
  const Tensor plain = conv2d(x, w, b, c.stride, c.pad);
  const struct {
    kernels::ConvActivation act;
    Tensor expected;
  } cases[] = {{kernels::ConvActivation::relu, relu(plain)},
               {kernels::ConvActivation::leaky_relu, leaky_relu(plain, 0.2)},
               {kernels::ConvActivation::silu, silu(plain)}};
  for (const auto& k : cases) {
    const Tensor y = test::poisoned(c.y_shape());
    kernels::launch_conv2d_forward(kernels::ScalarType::f32, c.geometry(), y.raw_data(), x.raw_data(), w.raw_data(),
                                   b.raw_data(), {k.act, 0.2}, cuda::stream(0));
    // The same kernel computed `plain`, so only the activation's rounding differs.
    test::expect_close(y.to(Device::cpu()), k.expected.to(Device::cpu()), 1e-6, 1e-6);
  }
}

// The op the VAE and the GAN run for a conv followed by its rectifier: on the
// GPU the kernel's epilogue applies it, and the output and gradients must be
// the GPU composite's bits (the same kernels, the activation's math shared
// with kernels/pointwise.h), in float32 (the SIMT and the tf32 tensor-core
// epilogues) and float64.
TEST(CudaConv, ConvActivationHasTheGpuCompositesBits) {
  NG_REQUIRE_GPU();
  const Case c{3, 5, 14, 14, 9, 4, 4, 2, 1};
  for (const auto& [dt, math] : {std::pair{DType::f32, MatmulPrecision::fp32}, std::pair{DType::f32, MatmulPrecision::tf32},
                                 std::pair{DType::f64, MatmulPrecision::fp32}})
    for (const auto& [act, slope] : {std::pair{ConvActivation::relu, 0.0}, std::pair{ConvActivation::leaky_relu, 0.2}}) {
      const MatmulPrecisionGuard precision(math);
      SCOPED_TRACE(std::string(dtype_name(dt)) + " " + to_string(math) +
                   (act == ConvActivation::relu ? " relu" : " leaky_relu"));
      const Inputs in = random_inputs(c, 1950, dt, true);
      auto leaves = [&] {
        return std::vector<Tensor>{gpu(in.x).requires_grad_(), gpu(in.w).requires_grad_(), gpu(in.b).requires_grad_()};
      };
      const std::vector<Tensor> f = leaves(), r = leaves();
      const Tensor fused = conv2d_activation(f[0], f[1], f[2], c.stride, c.pad, act, slope);
      const Tensor plain = conv2d(r[0], r[1], r[2], c.stride, c.pad);
      const Tensor composite = act == ConvActivation::relu ? relu(plain) : leaky_relu(plain, slope);
      const Tensor g = gpu(in.dy);
      sum(fused * g).backward();
      sum(composite * g).backward();
      for (const auto& [a, b, what] : {std::tuple{fused, composite, "y"}, std::tuple{f[0].grad(), r[0].grad(), "dx"},
                                       std::tuple{f[1].grad(), r[1].grad(), "dw"}, std::tuple{f[2].grad(), r[2].grad(), "db"}}) {
        const std::vector<double> x = host64(a).to_vector<double>(), y = host64(b).to_vector<double>();
        ASSERT_EQ(x.size(), y.size()) << what;
        int64_t bad = 0;
        for (size_t i = 0; i < x.size(); ++i) bad += std::memcmp(&x[i], &y[i], sizeof(double)) != 0;
        EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << x.size() << " elements differ";
      }
    }
}

// conv_transpose2d through the op (its forward is the input-gradient kernel
// with a bias), output_padding included, forward and backward.
TEST(CudaConv, ConvTransposeThroughTheOps) {
  NG_REQUIRE_GPU();
  struct T {
    int64_t n, cin, h, w, cout, k, s, p, op;
  };
  for (const T& t : {T{3, 64, 7, 7, 32, 4, 2, 1, 0}, T{2, 5, 6, 5, 3, 3, 3, 1, 2}, T{2, 4, 5, 7, 6, 3, 2, 0, 1},
                     T{1, 3, 4, 4, 2, 1, 2, 0, 1}}) {
    const Tensor x = test::uniform({t.n, t.cin, t.h, t.w}, 2100, -1, 1, DType::f32);
    const Tensor w = test::uniform({t.cin, t.cout, t.k, t.k}, 2101, -1, 1, DType::f32);
    const Tensor b = test::uniform({t.cout}, 2102, -1, 1, DType::f32);
    // The bias's gradient is a reduction (another family): it is checked in
    // GradientsFlowThroughAConvModel; here the bias is a constant.
    Tensor xc = x.clone().requires_grad_(), wc = w.clone().requires_grad_();
    Tensor xg = gpu(x).requires_grad_(), wg = gpu(w).requires_grad_();
    const Tensor yc = conv_transpose2d(xc, wc, b, t.s, t.p, t.op), yg = conv_transpose2d(xg, wg, gpu(b), t.s, t.p, t.op);
    ASSERT_EQ(yg.shape(), yc.shape());
    EXPECT_LT(relative_error(yg, yc), 1e-5) << "conv_transpose2d forward";
    const Tensor r = test::uniform(yc.shape(), 2103, -1, 1, DType::f32);
    yc.backward(r);
    yg.backward(gpu(r));
    EXPECT_LT(relative_error(xg.grad(), xc.grad()), 1e-5) << "conv_transpose2d input grad";
    EXPECT_LT(relative_error(wg.grad(), wc.grad()), 1e-5) << "conv_transpose2d weight grad";
  }
}

// A small conv model trained one step's worth: every gradient on the GPU
// equals the CPU's (float32 to a relative 1e-5; float64 to 1e-12, which also
// runs the direct kernels and the second-order graph through them).
TEST(CudaConv, GradientsFlowThroughAConvModel) {
  NG_REQUIRE_GPU();
  for (DType dtype : {DType::f32, DType::f64}) {
    const auto leaf = [&](const Shape& s, uint64_t seed) { return test::uniform(s, seed, -0.5, 0.5, dtype); };
    const std::vector<Tensor> cpu_leaves = {leaf({4, 3, 13, 13}, 1), leaf({8, 3, 3, 3}, 2), leaf({8}, 3),
                                            leaf({16, 8, 4, 4}, 4),  leaf({16}, 5),        leaf({16, 4, 4, 4}, 6),
                                            leaf({4}, 7)};
    const auto model = [](const std::vector<Tensor>& p) {
      Tensor h = relu(conv2d(p[0], p[1], p[2], 1, 1));
      h = leaky_relu(conv2d(h, p[3], p[4], 2, 1), 0.2);
      return conv_transpose2d(h, p[5], p[6], 2, 1, 1);
    };
    std::vector<Tensor> c, g;
    for (const Tensor& t : cpu_leaves) {
      c.push_back(t.clone().requires_grad_());
      g.push_back(gpu(t).requires_grad_());
    }
    const Tensor target = leaf({4, 4, 13, 13}, 8);  // 13 -> 13 -> 6 -> 13
    const Tensor lc = mean(square(model(c) - target)), lg = mean(square(model(g) - gpu(target)));
    const double tol = dtype == DType::f32 ? 1e-5 : 1e-12;
    EXPECT_LT(std::fabs(lg.item() - lc.item()), tol * std::fabs(lc.item()));
    const std::vector<Tensor> gc = autograd::grad({lc}, c, {}, false, true);
    const std::vector<Tensor> gg = autograd::grad({lg}, g, {}, false, true);
    for (size_t i = 0; i < c.size(); ++i) EXPECT_LT(relative_error(gg[i], gc[i]), tol) << "leaf " << i;
    // Second order: d/dw1 of the gradient norm, through conv2d_input/conv2d_weight.
    const Tensor hc = autograd::grad({sum(square(gc[1]))}, {c[0], c[1]})[1];
    const Tensor hg = autograd::grad({sum(square(gg[1]))}, {g[0], g[1]})[1];
    EXPECT_LT(relative_error(hg, hc), dtype == DType::f32 ? 1e-4 : 1e-11) << "second order";
  }
}

#if NANOGEN_HAVE_CUDNN
// cuDNN (plain float32 FMA math, implicit-GEMM algorithms) as a second
// oracle: both within the bound of the exact result, so within twice the
// bound of each other.
TEST(CudaConv, AgreesWithCudnn) {
  NG_REQUIRE_GPU();
  const std::vector<Case> cases = {{7, 3, 11, 9, 5, 4, 4, 3, 2},   {3, 32, 14, 14, 64, 4, 4, 2, 1},
                                   {2, 64, 28, 28, 64, 3, 3, 1, 1}, {5, 17, 13, 15, 9, 3, 3, 2, 0},
                                   {4, 128, 7, 7, 130, 3, 3, 1, 1}};
  const test::CudnnHandle handle(cuda::stream(0));
  uint64_t seed = 2300;
  for (const Case& c : cases) {
    const Inputs in = random_inputs(c, seed += 10, DType::f32, true);
    const Tensor x = gpu(in.x), w = gpu(in.w), b = gpu(in.b), dy = gpu(in.dy);
    const test::CudnnConv conv(c.geometry(), CUDNN_DATA_FLOAT, CUDNN_FMA_MATH);
    const auto workspace = [&](size_t bytes) {
      return bytes ? empty({int64_t((bytes + 3) / 4)}, kF32.with_device(test::gpu())) : Tensor();
    };
    const auto ptr = [](const Tensor& t) { return t.defined() ? t.raw_data() : nullptr; };

    const auto fa = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
    const Tensor ref_y = test::poisoned(c.y_shape()), ws_f = workspace(conv.forward_workspace(handle.get(), fa));
    conv.forward(handle.get(), fa, ptr(ws_f), ws_f.defined() ? size_t(ws_f.numel()) * 4 : 0, x.raw_data(),
                 w.raw_data(), ref_y.raw_data());
    conv.add_bias(handle.get(), b.raw_data(), ref_y.raw_data());
    const auto da = CUDNN_CONVOLUTION_BWD_DATA_ALGO_1;
    const Tensor ref_dx = test::poisoned(c.x_shape()), ws_d = workspace(conv.data_workspace(handle.get(), da));
    conv.backward_data(handle.get(), da, ptr(ws_d), ws_d.defined() ? size_t(ws_d.numel()) * 4 : 0, dy.raw_data(),
                       w.raw_data(), ref_dx.raw_data());
    const auto wa = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1;
    const Tensor ref_dw = test::poisoned(c.w_shape()), ws_w = workspace(conv.filter_workspace(handle.get(), wa));
    conv.backward_filter(handle.get(), wa, ptr(ws_w), ws_w.defined() ? size_t(ws_w.numel()) * 4 : 0, x.raw_data(),
                         dy.raw_data(), ref_dw.raw_data());

    const Tensor y = test::poisoned(c.y_shape()), dx = test::poisoned(c.x_shape()), dw = test::poisoned(c.w_shape());
    cuda::conv2d_forward(y, x, w, b, c.stride, c.pad);
    cuda::conv2d_input_grad(dx, dy, w, Tensor(), c.stride, c.pad);
    cuda::conv2d_weight_grad(dw, x, dy, c.stride, c.pad);

    const Exact e = exact_of(c, in);
    const Tensor &ey = e.y, &my = e.y_mag, &edx = e.dx, &mdx = e.dx_mag, &edw = e.dw, &mdw = e.dw_mag;

    const double kf = double(c.cin * c.kh * c.kw + 1), kd = double(c.cout * c.kh * c.kw),
                 kw = double(c.n * c.ho() * c.wo());
    expect_within_bound(ref_y, ey, my, kf, "cuDNN forward " + c.str());
    expect_within_bound(ref_dx, edx, mdx, kd, "cuDNN backward data " + c.str());
    expect_within_bound(ref_dw, edw, mdw, kw, "cuDNN backward filter " + c.str());
    expect_within_bound(y, host64(ref_y), my, 2 * kf, "ours vs cuDNN forward " + c.str());
    expect_within_bound(dx, host64(ref_dx), mdx, 2 * kd, "ours vs cuDNN backward data " + c.str());
    expect_within_bound(dw, host64(ref_dw), mdw, 2 * kw, "ours vs cuDNN backward filter " + c.str());
  }
}
#endif

// Sizes the 32-bit kernels cannot index are an ng::Error naming the op, not a crash.
// (The launchers check sizes before touching the GPU, so this runs without one.)
TEST(CudaConv, OversizedProblemsAreClearErrors) {
  const kernels::ConvGeometry huge{1 << 16, 1 << 10, 64, 64, 8, 3, 3, 1, 1, 64, 64};
  const kernels::ConvGeometry wide{1, 1, 20000, 8, 1, 3, 3, 1, 1, 20000, 8};
  const kernels::ConvGeometry strided{1, 1, 600, 600, 1, 1, 1, 300, 0, 2, 2};
  const kernels::ConvGeometry deep{1, 1 << 17, 4, 4, 1, 3, 3, 1, 1, 4, 4};  // 1.2M weights an output channel
  const auto expect_error = [](const kernels::ConvGeometry& g, const std::string& words) {
    try {
      kernels::launch_conv2d_forward(kernels::ScalarType::f32, g, nullptr, nullptr, nullptr, nullptr, {}, nullptr);
      ADD_FAILURE() << "expected an error about " << words;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("conv2d_forward"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    }
  };
  expect_error(huge, "elements is too large");
  expect_error(wide, "image side above 16384");
  expect_error(strided, "stride 300");
  expect_error(deep, "65535 * 16 weights");
}

#else

TEST(CudaConv, NeedsACudaBuild) { GTEST_SKIP() << "this build has no CUDA backend"; }

#endif
