// The CUDA convolutions: the contracts of engine/cpu/conv.h, run by the
// implicit-GEMM kernels of kernels/conv.h on the device's stream, in the
// math the process's precision asks for.
#include "kernels/conv.h"

#include "engine/cuda/backend.h"
#include "engine/cuda/runtime.h"
#include "engine/cuda/workspace.h"
#include "engine/error.h"
#include "engine/precision.h"

namespace ng::cuda {

namespace {

// The sizes of one convolution from its input-side [N,Cin,H,W], weight and
// output-side [N,Cout,Ho,Wo] shapes, as engine/cpu/conv.cpp reads them.
kernels::ConvGeometry geometry(const Tensor& input, const Tensor& weight, const Tensor& output, int64_t stride,
                               int64_t padding) {
  return {input.size(0), input.size(1), input.size(2), input.size(3), weight.size(0), weight.size(2),
          weight.size(3), stride,        padding,       output.size(2), output.size(3)};
}

const void* data_or_null(const Tensor& t) { return t.defined() ? t.raw_data() : nullptr; }

// The process's precision (engine/precision.h) for the float32 kernels:
// tf32 tensor cores under tf32, and under bf16 too (there is no bf16
// convolution kernel; tf32 is the closer of the two to what was asked and
// more accurate); float64 always runs exactly.
kernels::ConvTuning tuning_for(const Tensor& t) {
  kernels::ConvTuning tune;
  if (t.dtype() == DType::f32 && matmul_precision() != MatmulPrecision::fp32) tune.math = kernels::ConvMath::tf32;
  return tune;
}

void check_output(const char* op, const Tensor& out) {
  NG_CHECK(out.is_contiguous(), op, ": the CUDA kernel writes a contiguous output, got strides ",
           shape_str(out.strides()), " for ", shape_str(out.shape()));
}

}  // namespace

void conv2d_forward(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor& b, int64_t stride,
                    int64_t padding, const kernels::ConvEpilogue& epilogue) {
  check_output("conv2d_forward", y);
  if (y.numel() == 0) return;
  const Tensor xc = x.contiguous(), wc = w.contiguous(), bc = b.defined() ? b.contiguous() : Tensor();
  kernels::launch_conv2d_forward(scalar_type(y.dtype()), geometry(x, w, y, stride, padding), y.raw_data(),
                                 xc.raw_data(), wc.raw_data(), data_or_null(bc), epilogue, stream(y.device()),
                                 tuning_for(y));
}

void conv2d_input_grad(const Tensor& dx, const Tensor& dy, const Tensor& w, const Tensor& b, int64_t stride,
                       int64_t padding) {
  check_output("conv2d_input_grad", dx);
  if (dx.numel() == 0) return;
  const Tensor dyc = dy.contiguous(), wc = w.contiguous(), bc = b.defined() ? b.contiguous() : Tensor();
  kernels::launch_conv2d_input_grad(scalar_type(dx.dtype()), geometry(dx, w, dy, stride, padding),
                                    dx.raw_data(), dyc.raw_data(), wc.raw_data(), data_or_null(bc),
                                    stream(dx.device()), tuning_for(dx));
}

void conv2d_weight_grad(const Tensor& dw, const Tensor& x, const Tensor& dy, int64_t stride, int64_t padding) {
  check_output("conv2d_weight_grad", dw);
  if (dw.numel() == 0) return;
  const Tensor xc = x.contiguous(), dyc = dy.contiguous();
  const kernels::ConvGeometry g = geometry(x, dw, dy, stride, padding);
  const kernels::ScalarType t = scalar_type(dw.dtype());
  // Scratch for the split reduction (engine/cuda/workspace.h), sized for the same math and tiles.
  const kernels::ConvTuning tune = tuning_for(dw);
  const size_t bytes = kernels::conv2d_weight_grad_workspace(t, g, tune);
  const Tensor ws = bytes ? workspace(bytes, dw.device()) : Tensor();
  kernels::launch_conv2d_weight_grad(t, g, dw.raw_data(), xc.raw_data(), dyc.raw_data(),
                                     ws.defined() ? ws.raw_data() : nullptr, stream(dw.device()), tune);
}

}  // namespace ng::cuda
