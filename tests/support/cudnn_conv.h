// cuDNN as a second oracle (tests) and as the bar to beat (benchmarks) for
// the convolution kernels: one 2-D convolution's descriptors and the three
// cuDNN calls, in the geometry of kernels/conv.h. Header-only; include it
// only where cudnn.h and libcudnn are available (NANOGEN_HAVE_CUDNN).
#pragma once

#include <cudnn.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/conv.h"

#define NG_CUDNN_CHECK(call)                                                                                  \
  do {                                                                                                        \
    const cudnnStatus_t ng_status_ = (call);                                                                  \
    if (ng_status_ != CUDNN_STATUS_SUCCESS)                                                                   \
      throw std::runtime_error(std::string("cuDNN: ") + #call + " failed: " + cudnnGetErrorString(ng_status_)); \
  } while (0)

namespace ng::test {

class CudnnHandle {
 public:
  explicit CudnnHandle(cudaStream_t stream) {
    NG_CUDNN_CHECK(cudnnCreate(&handle_));
    NG_CUDNN_CHECK(cudnnSetStream(handle_, stream));
  }
  ~CudnnHandle() { cudnnDestroy(handle_); }
  CudnnHandle(const CudnnHandle&) = delete;
  CudnnHandle& operator=(const CudnnHandle&) = delete;
  cudnnHandle_t get() const { return handle_; }

 private:
  cudnnHandle_t handle_ = nullptr;
};

// NCHW cross-correlation with the given data type and math type:
// CUDNN_FMA_MATH keeps float32 in plain float32 FMAs (no TF32 tensor cores);
// CUDNN_TENSOR_OP_MATH lets float32 run as TF32.
class CudnnConv {
 public:
  CudnnConv(const kernels::ConvGeometry& g, cudnnDataType_t type, cudnnMathType_t math) : type_(type) {
    NG_CUDNN_CHECK(cudnnCreateTensorDescriptor(&x));
    NG_CUDNN_CHECK(cudnnCreateTensorDescriptor(&y));
    NG_CUDNN_CHECK(cudnnCreateTensorDescriptor(&bias));
    NG_CUDNN_CHECK(cudnnCreateFilterDescriptor(&w));
    NG_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&conv));
    NG_CUDNN_CHECK(cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NCHW, type, int(g.batch), int(g.c_in), int(g.h), int(g.w)));
    NG_CUDNN_CHECK(cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NCHW, type, int(g.batch), int(g.c_out), int(g.h_out),
                                              int(g.w_out)));
    NG_CUDNN_CHECK(cudnnSetTensor4dDescriptor(bias, CUDNN_TENSOR_NCHW, type, 1, int(g.c_out), 1, 1));
    NG_CUDNN_CHECK(cudnnSetFilter4dDescriptor(w, type, CUDNN_TENSOR_NCHW, int(g.c_out), int(g.c_in), int(g.kh), int(g.kw)));
    NG_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(conv, int(g.padding), int(g.padding), int(g.stride),
                                                   int(g.stride), 1, 1, CUDNN_CROSS_CORRELATION, type));
    NG_CUDNN_CHECK(cudnnSetConvolutionMathType(conv, math));
  }
  ~CudnnConv() {
    cudnnDestroyConvolutionDescriptor(conv);
    cudnnDestroyFilterDescriptor(w);
    cudnnDestroyTensorDescriptor(bias);
    cudnnDestroyTensorDescriptor(y);
    cudnnDestroyTensorDescriptor(x);
  }
  CudnnConv(const CudnnConv&) = delete;
  CudnnConv& operator=(const CudnnConv&) = delete;

  size_t forward_workspace(cudnnHandle_t h, cudnnConvolutionFwdAlgo_t algo) const {
    size_t bytes = 0;
    NG_CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(h, x, w, conv, y, algo, &bytes));
    return bytes;
  }
  size_t data_workspace(cudnnHandle_t h, cudnnConvolutionBwdDataAlgo_t algo) const {
    size_t bytes = 0;
    NG_CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(h, w, y, conv, x, algo, &bytes));
    return bytes;
  }
  size_t filter_workspace(cudnnHandle_t h, cudnnConvolutionBwdFilterAlgo_t algo) const {
    size_t bytes = 0;
    NG_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(h, x, y, conv, w, algo, &bytes));
    return bytes;
  }

  // y = conv(x, w); dx = conv^T(dy, w); dw = d<conv(x, w), dy>/dw (all overwritten).
  void forward(cudnnHandle_t h, cudnnConvolutionFwdAlgo_t algo, void* ws, size_t ws_bytes, const void* xp,
               const void* wp, void* yp) const {
    NG_CUDNN_CHECK(cudnnConvolutionForward(h, one(), x, xp, w, wp, conv, algo, ws, ws_bytes, zero(), y, yp));
  }
  void backward_data(cudnnHandle_t h, cudnnConvolutionBwdDataAlgo_t algo, void* ws, size_t ws_bytes,
                     const void* dyp, const void* wp, void* dxp) const {
    NG_CUDNN_CHECK(cudnnConvolutionBackwardData(h, one(), w, wp, y, dyp, conv, algo, ws, ws_bytes, zero(), x, dxp));
  }
  void backward_filter(cudnnHandle_t h, cudnnConvolutionBwdFilterAlgo_t algo, void* ws, size_t ws_bytes,
                       const void* xp, const void* dyp, void* dwp) const {
    NG_CUDNN_CHECK(cudnnConvolutionBackwardFilter(h, one(), x, xp, y, dyp, conv, algo, ws, ws_bytes, zero(), w, dwp));
  }
  // y += bias (per channel).
  void add_bias(cudnnHandle_t h, const void* bp, void* yp) const {
    NG_CUDNN_CHECK(cudnnAddTensor(h, one(), bias, bp, one(), y, yp));
  }
  // y = act(conv(x, w) + bias) in one cuDNN call (z, its residual input, scaled by 0).
  void bias_activation_forward(cudnnHandle_t h, cudnnConvolutionFwdAlgo_t algo, void* ws, size_t ws_bytes,
                               const void* xp, const void* wp, const void* bp, cudnnActivationDescriptor_t act,
                               void* yp) const {
    NG_CUDNN_CHECK(cudnnConvolutionBiasActivationForward(h, one(), x, xp, w, wp, conv, algo, ws, ws_bytes, zero(), y,
                                                         yp, bias, bp, act, y, yp));
  }

  cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;

 private:
  // cuDNN's scaling factors are double for double data, float otherwise.
  const void* one() const { return type_ == CUDNN_DATA_DOUBLE ? static_cast<const void*>(&one_d_) : &one_f_; }
  const void* zero() const { return type_ == CUDNN_DATA_DOUBLE ? static_cast<const void*>(&zero_d_) : &zero_f_; }
  cudnnDataType_t type_;
  float one_f_ = 1.0f, zero_f_ = 0.0f;
  double one_d_ = 1.0, zero_d_ = 0.0;
};

}  // namespace ng::test
