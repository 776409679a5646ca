// float64 convolutions as direct sums, one thread per output element: the
// definitions written out, for gradient checks and references on the GPU
// (correctness over speed; float32 runs the tiled kernels).
#include <cstdint>

#include "kernels/conv_impl.h"
#include "kernels/conv_tile.cuh"
#include "kernels/cuda_check.h"

namespace ng::kernels::conv_impl {

namespace {

// The geometry as ints (kernels/conv.cu's check_sizes guarantees they fit).
struct Dims {
  int batch, c_in, h, w, c_out, kh, kw, stride, pad, h_out, w_out;
};

Dims dims_of(const ConvGeometry& g) {
  return {int(g.batch), int(g.c_in), int(g.h),  int(g.w),      int(g.c_out), int(g.kh),
          int(g.kw),    int(g.stride), int(g.padding), int(g.h_out), int(g.w_out)};
}

constexpr int kThreads = 256;

unsigned blocks_for(int64_t n) {
  const int64_t b = (n + kThreads - 1) / kThreads;
  return unsigned(b < 1 ? 1 : b > 65535 * 16 ? 65535 * 16 : b);
}

// y[n, co, oh, ow] = act(b[co] + sum_{ci, ki, kj} x[n, ci, oh*s - pad + ki, ow*s - pad + kj] w[co, ci, ki, kj])
template <class T>
__global__ void forward_direct(Dims d, T* y, const T* x, const T* w, const T* bias, ConvEpilogue ep) {
  const int64_t total = int64_t(d.batch) * d.c_out * d.h_out * d.w_out;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int ow = int(i % d.w_out), oh = int(i / d.w_out % d.h_out), co = int(i / (d.w_out * d.h_out) % d.c_out);
    const int n = int(i / (int64_t(d.w_out) * d.h_out * d.c_out));
    T s = bias ? bias[co] : T(0);
    for (int ci = 0; ci < d.c_in; ++ci)
      for (int ki = 0; ki < d.kh; ++ki) {
        const int ih = oh * d.stride - d.pad + ki;
        if (ih < 0 || ih >= d.h) continue;
        for (int kj = 0; kj < d.kw; ++kj) {
          const int iw = ow * d.stride - d.pad + kj;
          if (iw < 0 || iw >= d.w) continue;
          s += x[((n * d.c_in + ci) * d.h + ih) * d.w + iw] * w[((co * d.c_in + ci) * d.kh + ki) * d.kw + kj];
        }
      }
    y[i] = conv_tile::activate(s, ep);
  }
}

// dx[n, ci, ih, iw] = b[ci] + sum over (co, ki, kj) with ih = oh*s - pad + ki
// (and likewise for iw) of dy[n, co, oh, ow] w[co, ci, ki, kj].
template <class T>
__global__ void input_grad_direct(Dims d, T* dx, const T* dy, const T* w, const T* bias) {
  const int64_t total = int64_t(d.batch) * d.c_in * d.h * d.w;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int iw = int(i % d.w), ih = int(i / d.w % d.h), ci = int(i / (d.w * d.h) % d.c_in);
    const int n = int(i / (int64_t(d.w) * d.h * d.c_in));
    T s = bias ? bias[ci] : T(0);
    for (int co = 0; co < d.c_out; ++co)
      for (int ki = 0; ki < d.kh; ++ki) {
        const int rh = ih + d.pad - ki;  // = oh * stride
        if (rh < 0 || rh % d.stride != 0 || rh / d.stride >= d.h_out) continue;
        for (int kj = 0; kj < d.kw; ++kj) {
          const int rw = iw + d.pad - kj;
          if (rw < 0 || rw % d.stride != 0 || rw / d.stride >= d.w_out) continue;
          s += dy[((n * d.c_out + co) * d.h_out + rh / d.stride) * d.w_out + rw / d.stride] *
               w[((co * d.c_in + ci) * d.kh + ki) * d.kw + kj];
        }
      }
    dx[i] = s;
  }
}

// dw[co, ci, ki, kj] = sum_{n, oh, ow} dy[n, co, oh, ow] x[n, ci, oh*s - pad + ki, ow*s - pad + kj]
template <class T>
__global__ void weight_grad_direct(Dims d, T* dw, const T* x, const T* dy) {
  const int64_t total = int64_t(d.c_out) * d.c_in * d.kh * d.kw;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int kj = int(i % d.kw), ki = int(i / d.kw % d.kh), ci = int(i / (d.kw * d.kh) % d.c_in);
    const int co = int(i / (int64_t(d.kw) * d.kh * d.c_in));
    T s = T(0);
    for (int n = 0; n < d.batch; ++n)
      for (int oh = 0; oh < d.h_out; ++oh) {
        const int ih = oh * d.stride - d.pad + ki;
        if (ih < 0 || ih >= d.h) continue;
        for (int ow = 0; ow < d.w_out; ++ow) {
          const int iw = ow * d.stride - d.pad + kj;
          if (iw < 0 || iw >= d.w) continue;
          s += dy[((n * d.c_out + co) * d.h_out + oh) * d.w_out + ow] * x[((n * d.c_in + ci) * d.h + ih) * d.w + iw];
        }
      }
    dw[i] = s;
  }
}

}  // namespace

void forward_f64(const ConvGeometry& g, double* y, const double* x, const double* w, const double* bias,
                 const ConvEpilogue& ep, cudaStream_t stream) {
  forward_direct<<<blocks_for(g.batch * g.c_out * g.h_out * g.w_out), kThreads, 0, stream>>>(dims_of(g), y, x, w,
                                                                                               bias, ep);
  NG_CHECK_LAUNCH("forward_direct");
}

void input_grad_f64(const ConvGeometry& g, double* dx, const double* dy, const double* w, const double* bias,
                    cudaStream_t stream) {
  input_grad_direct<<<blocks_for(g.batch * g.c_in * g.h * g.w), kThreads, 0, stream>>>(dims_of(g), dx, dy, w, bias);
  NG_CHECK_LAUNCH("input_grad_direct");
}

void weight_grad_f64(const ConvGeometry& g, double* dw, const double* x, const double* dy, cudaStream_t stream) {
  weight_grad_direct<<<blocks_for(g.c_out * g.c_in * g.kh * g.kw), kThreads, 0, stream>>>(dims_of(g), dw, x, dy);
  NG_CHECK_LAUNCH("weight_grad_direct");
}

}  // namespace ng::kernels::conv_impl
