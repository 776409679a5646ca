// 2-D convolution kernels (NCHW, cross-correlation as in PyTorch).
//
// With x [N,Cin,H,W], w [Cout,Cin,kh,kw] and y [N,Cout,Ho,Wo],
// Ho = (H + 2 padding - kh) / stride + 1 (Wo likewise), the three products of
// one convolution are computed as implicit GEMMs: the patch matrix is
// gathered from the image tile by tile into shared memory, never written to
// global memory.
//
//   forward      y  = conv2d(x, w) + b, then an optional activation
//                     GEMM [N*Ho*Wo, Cin*kh*kw] x [Cin*kh*kw, Cout]
//   input grad   dx = conv2d^T(dy, w) + b (b [Cin]; conv_transpose2d's forward)
//                     one GEMM per stride phase of dx: [N*H*W/s^2, Cout*taps] x [Cout*taps, Cin]
//   weight grad  dw = sum over N*Ho*Wo of dy x patches(x)
//                     GEMM [Cout, N*Ho*Wo] x [N*Ho*Wo, Cin*kh*kw], split over the long
//                     reduction and summed in a fixed order (reproducible, no atomics)
//
// float32 runs the tiled kernels; float64 runs simple direct kernels (one
// thread per output element), meant for checks rather than speed. Every
// pointer is a contiguous device buffer; outputs are overwritten. See
// docs/kernels.md (## conv) for the tiling.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "kernels/elementwise.h"
#include "kernels/layouts.h"  // ConvEpilogue

namespace ng::kernels {

struct ConvGeometry {
  int64_t batch, c_in, h, w;  // x [batch, c_in, h, w]
  int64_t c_out, kh, kw;      // w [c_out, c_in, kh, kw]
  int64_t stride, padding;
  int64_t h_out, w_out;  // y [batch, c_out, h_out, w_out]
};

// The float32 math of the three kernels: fp32 FMAs on CUDA cores, or tf32
// tensor cores (mma.sync m16n8k8: each input rounded to tf32, 10 fraction
// bits, products accumulated in fp32; PyTorch's default for convolutions).
// Products with 16 or fewer columns (one-channel layers) stay fp32: too
// narrow for an mma tile.
enum class ConvMath : uint8_t { fp32, tf32 };

// Overrides of the automatic choices, for tests and benchmarks; 0 = automatic.
// tile_m x tile_n is the output tile of one block (rows: pixels, columns:
// channels; for the weight grad rows: Cout, columns: Cin*kh*kw):
//   forward, input grad, fp32: 128x128, 128x64, 128x32, 64x128, 64x64, 64x32, 128x16, 256x4
//   weight grad, fp32:         128x128, 64x128, 32x128, 64x32, 32x32, 64x16, 32x16, 4x128
//   all three, tf32:           128x128, 128x64, 64x128, 64x64
// splits is the weight grad's split of the N*Ho*Wo reduction. In fp32 no
// choice changes a result except splits (which changes the summation order).
struct ConvTuning {
  int tile_m = 0, tile_n = 0;
  int splits = 0;
  ConvMath math = ConvMath::fp32;
};

// y = act(conv2d(x, w) + bias); bias [c_out] may be null.
void launch_conv2d_forward(ScalarType t, const ConvGeometry& g, void* y, const void* x, const void* w,
                           const void* bias, const ConvEpilogue& ep, cudaStream_t stream, const ConvTuning& tune = {});

// dx [batch,c_in,h,w] = d<conv2d(x, w), dy>/dx + bias [c_in] (bias may be null).
void launch_conv2d_input_grad(ScalarType t, const ConvGeometry& g, void* dx, const void* dy, const void* w,
                              const void* bias, cudaStream_t stream, const ConvTuning& tune = {});

// Bytes of device scratch the weight gradient needs (0 when it needs none).
size_t conv2d_weight_grad_workspace(ScalarType t, const ConvGeometry& g, const ConvTuning& tune = {});

// dw [c_out,c_in,kh,kw] = d<conv2d(x, w), dy>/dw. `workspace` holds at least
// conv2d_weight_grad_workspace(t, g, tune) bytes (may be null when that is 0).
void launch_conv2d_weight_grad(ScalarType t, const ConvGeometry& g, void* dw, const void* x, const void* dy,
                               void* workspace, cudaStream_t stream, const ConvTuning& tune = {});

}  // namespace ng::kernels
