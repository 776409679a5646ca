// Our implicit-GEMM convolutions (kernels/conv.h) against cuDNN's best
// algorithm, float32 on both sides (cuDNN restricted to FMA math, and
// NVIDIA_TF32_OVERRIDE=0: we have no TF32 path, so no TF32 comparison),
// forward / input gradient / weight gradient, on every convolution of the
// three canonical models at batch 128 and a few large shapes; then the fused
// forward (bias + relu in our epilogue) against cuDNN's convolution followed
// by cudnnAddTensor and cudnnActivationForward.
//
// Method: validate first (relative error of ours against cuDNN), warm up,
// time with CUDA events the median of many runs, each run on the next of
// several input/output sets that together exceed twice the L2 cache.
// The ConvTranspose layers of the models are the input gradients of the
// convolutions listed with them. Target: forward >= 70% of cuDNN's speed.
//
// Usage: bench_cuda_conv [--quick]   (--quick: fewer runs, for a smoke test)
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "kernels/conv.h"
#include "kernels/cuda_check.h"

#if NANOGEN_HAVE_CUDNN
#include "support/cudnn_conv.h"

namespace {

using ng::kernels::ConvGeometry;

struct ConvShape {
  const char* name;
  int64_t n, cin, h, w, cout, k, s, p;

  ConvGeometry geometry() const {
    const int64_t ho = (h + 2 * p - k) / s + 1, wo = (w + 2 * p - k) / s + 1;
    return {n, cin, h, w, cout, k, k, s, p, ho, wo};
  }
  double flops() const {
    const ConvGeometry g = geometry();
    return 2.0 * double(g.batch * g.c_out * g.h_out * g.w_out) * double(g.c_in * g.kh * g.kw);
  }
};

const std::vector<ConvShape> kShapes = {
    {"VAE enc0 Conv(1,32,4,s2,p1) 28 / dec1 ConvT(32,1) 14->28", 128, 1, 28, 28, 32, 4, 2, 1},
    {"VAE enc1 Conv(32,64,4,s2,p1) 14 / dec0 ConvT(64,32) 7->14", 128, 32, 14, 14, 64, 4, 2, 1},
    {"DCGAN D0 Conv(1,64,4,s2,p1) 28 / G ConvT(64,1) 14->28", 128, 1, 28, 28, 64, 4, 2, 1},
    {"DCGAN D1 Conv(64,128,4,s2,p1) 14 / G ConvT(128,64) 7->14", 128, 64, 14, 14, 128, 4, 2, 1},
    {"U-Net stem Conv(1,64,3,p1) 28", 128, 1, 28, 28, 64, 3, 1, 1},
    {"U-Net Conv(64,64,3,p1) 28", 128, 64, 28, 28, 64, 3, 1, 1},
    {"U-Net down Conv(64,64,3,s2,p1) 28->14", 128, 64, 28, 28, 64, 3, 2, 1},
    {"U-Net Conv(64,128,3,p1) 14", 128, 64, 14, 14, 128, 3, 1, 1},
    {"U-Net Conv(128,128,3,p1) 14", 128, 128, 14, 14, 128, 3, 1, 1},
    {"U-Net down Conv(128,128,3,s2,p1) 14->7", 128, 128, 14, 14, 128, 3, 2, 1},
    {"U-Net Conv(128,128,3,p1) 7", 128, 128, 7, 7, 128, 3, 1, 1},
    {"U-Net up Conv(256,128,3,p1) 7", 128, 256, 7, 7, 128, 3, 1, 1},
    {"U-Net up Conv(256,128,3,p1) 14", 128, 256, 14, 14, 128, 3, 1, 1},
    {"U-Net up Conv(192,64,3,p1) 28", 128, 192, 28, 28, 64, 3, 1, 1},
    {"U-Net skip Conv(256,128,1) 14", 128, 256, 14, 14, 128, 1, 1, 0},
    {"U-Net attn qkv Conv(128,384,1) 7", 128, 128, 7, 7, 384, 1, 1, 0},
    {"U-Net out Conv(64,1,3,p1) 28", 128, 64, 28, 28, 1, 3, 1, 1},
    {"large Conv(256,256,3,p1) 56", 128, 256, 56, 56, 256, 3, 1, 1},
    {"large Conv(512,512,3,p1) 28", 128, 512, 28, 28, 512, 3, 1, 1},
    {"large Conv(128,256,3,s2,p1) 112->56", 64, 128, 112, 112, 256, 3, 2, 1},
};

// A device buffer of floats, freed on scope exit.
struct DeviceBuffer {
  float* ptr = nullptr;
  size_t count = 0;
  explicit DeviceBuffer(size_t n = 0) : count(n) {
    if (n) NG_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&ptr), n * sizeof(float)));
  }
  ~DeviceBuffer() { cudaFree(ptr); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr(o.ptr), count(o.count) { o.ptr = nullptr, o.count = 0; }
};

void fill_random(DeviceBuffer& b, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> host(b.count);
  for (float& v : host) v = u(gen);
  NG_CUDA_CHECK(cudaMemcpy(b.ptr, host.data(), b.count * sizeof(float), cudaMemcpyHostToDevice));
}

std::vector<float> to_host(const float* p, size_t n) {
  std::vector<float> v(n);
  NG_CUDA_CHECK(cudaMemcpy(v.data(), p, n * sizeof(float), cudaMemcpyDeviceToHost));
  return v;
}

double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = double(a[i]) - double(b[i]);
    num += d * d, den += double(b[i]) * double(b[i]);
  }
  return std::isfinite(num) ? std::sqrt(num / std::max(den, 1e-300)) : INFINITY;
}

// Median time in ms of one call of `run(set)`, rotating over `sets` sets.
double time_ms(cudaStream_t stream, int sets, int samples, const std::function<void(int)>& run) {
  const int per_sample = std::max(sets, 10);
  for (int i = 0; i < sets; ++i) run(i);  // warm-up: every set once
  cudaEvent_t start, stop;
  NG_CUDA_CHECK(cudaEventCreate(&start));
  NG_CUDA_CHECK(cudaEventCreate(&stop));
  std::vector<double> times;
  int next = 0;
  for (int s = 0; s < samples; ++s) {
    NG_CUDA_CHECK(cudaEventRecord(start, stream));
    for (int i = 0; i < per_sample; ++i) run(next++ % sets);
    NG_CUDA_CHECK(cudaEventRecord(stop, stream));
    NG_CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    NG_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    times.push_back(double(ms) / per_sample);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

struct Row {
  std::string shape, what, algo;
  double ours_ms, ref_ms, flops, error;
};

using ng::test::CudnnConv;

// Everything one shape needs, `sets` times over (inputs and outputs).
struct ShapeBuffers {
  std::vector<DeviceBuffer> x, w, b, dy, y, dx, dw, y_ref, dx_ref, dw_ref;
};

template <class Perf>
const Perf* best_fma(const std::vector<Perf>& results, int found) {
  for (int i = 0; i < found; ++i)
    if (results[size_t(i)].status == CUDNN_STATUS_SUCCESS && results[size_t(i)].mathType == CUDNN_FMA_MATH)
      return &results[size_t(i)];
  return nullptr;
}

void bench_shape(const ConvShape& shape, cudnnHandle_t handle, cudaStream_t stream, size_t l2_bytes, int samples,
                 std::vector<Row>& rows) {
  const ConvGeometry g = shape.geometry();
  const size_t nx = size_t(g.batch * g.c_in * g.h * g.w), nw = size_t(g.c_out * g.c_in * g.kh * g.kw),
               ny = size_t(g.batch * g.c_out * g.h_out * g.w_out);
  const size_t set_bytes = (2 * nx + 2 * nw + 2 * ny) * sizeof(float);
  const int sets = int(std::clamp<size_t>(2 * l2_bytes / set_bytes + 1, 1, 64));
  ShapeBuffers buf;
  for (int i = 0; i < sets; ++i) {
    buf.x.emplace_back(nx), buf.w.emplace_back(nw), buf.b.emplace_back(size_t(g.c_out)), buf.dy.emplace_back(ny);
    buf.y.emplace_back(ny), buf.dx.emplace_back(nx), buf.dw.emplace_back(nw);
    fill_random(buf.x.back(), 10 * i + 1), fill_random(buf.w.back(), 10 * i + 2);
    fill_random(buf.b.back(), 10 * i + 3), fill_random(buf.dy.back(), 10 * i + 4);
  }
  DeviceBuffer y_ref(ny), dx_ref(nx), dw_ref(nw);
  const size_t our_ws_bytes = ng::kernels::conv2d_weight_grad_workspace(ng::kernels::ScalarType::f32, g);
  DeviceBuffer our_ws((our_ws_bytes + 3) / 4);

  const CudnnConv conv(g, CUDNN_DATA_FLOAT, CUDNN_FMA_MATH);
  const size_t ws_limit = size_t(1) << 30;
  DeviceBuffer ws(ws_limit / 4);
  const auto f32 = ng::kernels::ScalarType::f32;

  // ---- forward ----
  {
    std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(CUDNN_CONVOLUTION_FWD_ALGO_COUNT);
    int found = 0;
    NG_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(handle, conv.x, buf.x[0].ptr, conv.w, buf.w[0].ptr, conv.conv,
                                                          conv.y, y_ref.ptr, int(perf.size()), &found, perf.data(),
                                                          ws.ptr, ws_limit));
    const auto* best = best_fma(perf, found);
    if (best) {
      const auto algo = best->algo;
      const size_t wsb = best->memory;
      conv.forward(handle, algo, ws.ptr, wsb, buf.x[0].ptr, buf.w[0].ptr, y_ref.ptr);
      ng::kernels::launch_conv2d_forward(f32, g, buf.y[0].ptr, buf.x[0].ptr, buf.w[0].ptr, nullptr, {}, stream);
      NG_CUDA_CHECK(cudaStreamSynchronize(stream));
      const double err = relative_error(to_host(buf.y[0].ptr, ny), to_host(y_ref.ptr, ny));
      const double ours = time_ms(stream, sets, samples, [&](int i) {
        ng::kernels::launch_conv2d_forward(f32, g, buf.y[size_t(i)].ptr, buf.x[size_t(i)].ptr, buf.w[size_t(i)].ptr,
                                           nullptr, {}, stream);
      });
      const double ref = time_ms(stream, sets, samples, [&](int i) {
        conv.forward(handle, algo, ws.ptr, wsb, buf.x[size_t(i)].ptr, buf.w[size_t(i)].ptr, buf.y[size_t(i)].ptr);
      });
      rows.push_back({shape.name, "forward", "fwd algo " + std::to_string(int(algo)), ours, ref, shape.flops(), err});

      // Fused: our bias + relu epilogue vs cuDNN conv, then add bias, then relu.
      cudnnActivationDescriptor_t act;
      NG_CUDNN_CHECK(cudnnCreateActivationDescriptor(&act));
      NG_CUDNN_CHECK(cudnnSetActivationDescriptor(act, CUDNN_ACTIVATION_RELU, CUDNN_NOT_PROPAGATE_NAN, 0.0));
      const float one = 1.0f, zero = 0.0f;
      const auto cudnn_fused = [&](int i) {
        conv.forward(handle, algo, ws.ptr, wsb, buf.x[size_t(i)].ptr, buf.w[size_t(i)].ptr, buf.y[size_t(i)].ptr);
        conv.add_bias(handle, buf.b[size_t(i)].ptr, buf.y[size_t(i)].ptr);
        NG_CUDNN_CHECK(cudnnActivationForward(handle, act, &one, conv.y, buf.y[size_t(i)].ptr, &zero, conv.y,
                                              buf.y[size_t(i)].ptr));
      };
      const ng::kernels::ConvEpilogue relu{ng::kernels::ConvActivation::relu, 0.0f};
      const auto ours_fused = [&](int i) {
        ng::kernels::launch_conv2d_forward(f32, g, buf.y[size_t(i)].ptr, buf.x[size_t(i)].ptr, buf.w[size_t(i)].ptr,
                                           buf.b[size_t(i)].ptr, relu, stream);
      };
      cudnn_fused(0);
      NG_CUDA_CHECK(cudaMemcpyAsync(y_ref.ptr, buf.y[0].ptr, ny * sizeof(float), cudaMemcpyDeviceToDevice, stream));
      ours_fused(0);
      NG_CUDA_CHECK(cudaStreamSynchronize(stream));
      const double ferr = relative_error(to_host(buf.y[0].ptr, ny), to_host(y_ref.ptr, ny));
      const double fo = time_ms(stream, sets, samples, ours_fused), fr = time_ms(stream, sets, samples, cudnn_fused);
      rows.push_back({shape.name, "fwd+bias+relu", "fwd algo " + std::to_string(int(algo)) + " +2 ops", fo, fr,
                      shape.flops(), ferr});
      cudnnDestroyActivationDescriptor(act);
    }
  }
  // ---- input gradient ----
  {
    std::vector<cudnnConvolutionBwdDataAlgoPerf_t> perf(CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT);
    int found = 0;
    NG_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(handle, conv.w, buf.w[0].ptr, conv.y, buf.dy[0].ptr,
                                                               conv.conv, conv.x, dx_ref.ptr, int(perf.size()), &found,
                                                               perf.data(), ws.ptr, ws_limit));
    if (const auto* best = best_fma(perf, found)) {
      const auto algo = best->algo;
      const size_t wsb = best->memory;
      conv.backward_data(handle, algo, ws.ptr, wsb, buf.dy[0].ptr, buf.w[0].ptr, dx_ref.ptr);
      ng::kernels::launch_conv2d_input_grad(f32, g, buf.dx[0].ptr, buf.dy[0].ptr, buf.w[0].ptr, nullptr, stream);
      NG_CUDA_CHECK(cudaStreamSynchronize(stream));
      const double err = relative_error(to_host(buf.dx[0].ptr, nx), to_host(dx_ref.ptr, nx));
      const double ours = time_ms(stream, sets, samples, [&](int i) {
        ng::kernels::launch_conv2d_input_grad(f32, g, buf.dx[size_t(i)].ptr, buf.dy[size_t(i)].ptr,
                                              buf.w[size_t(i)].ptr, nullptr, stream);
      });
      const double ref = time_ms(stream, sets, samples, [&](int i) {
        conv.backward_data(handle, algo, ws.ptr, wsb, buf.dy[size_t(i)].ptr, buf.w[size_t(i)].ptr,
                           buf.dx[size_t(i)].ptr);
      });
      rows.push_back({shape.name, "input grad", "bwd data algo " + std::to_string(int(algo)), ours, ref,
                      shape.flops(), err});
    }
  }
  // ---- weight gradient ----
  {
    std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> perf(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT);
    int found = 0;
    NG_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(handle, conv.x, buf.x[0].ptr, conv.y, buf.dy[0].ptr,
                                                                 conv.conv, conv.w, dw_ref.ptr, int(perf.size()),
                                                                 &found, perf.data(), ws.ptr, ws_limit));
    if (const auto* best = best_fma(perf, found)) {
      const auto algo = best->algo;
      const size_t wsb = best->memory;
      conv.backward_filter(handle, algo, ws.ptr, wsb, buf.x[0].ptr, buf.dy[0].ptr, dw_ref.ptr);
      ng::kernels::launch_conv2d_weight_grad(f32, g, buf.dw[0].ptr, buf.x[0].ptr, buf.dy[0].ptr, our_ws.ptr, stream);
      NG_CUDA_CHECK(cudaStreamSynchronize(stream));
      const double err = relative_error(to_host(buf.dw[0].ptr, nw), to_host(dw_ref.ptr, nw));
      const double ours = time_ms(stream, sets, samples, [&](int i) {
        ng::kernels::launch_conv2d_weight_grad(f32, g, buf.dw[size_t(i)].ptr, buf.x[size_t(i)].ptr,
                                               buf.dy[size_t(i)].ptr, our_ws.ptr, stream);
      });
      const double ref = time_ms(stream, sets, samples, [&](int i) {
        conv.backward_filter(handle, algo, ws.ptr, wsb, buf.x[size_t(i)].ptr, buf.dy[size_t(i)].ptr,
                             buf.dw[size_t(i)].ptr);
      });
      rows.push_back({shape.name, "weight grad", "bwd filter algo " + std::to_string(int(algo)), ours, ref,
                      shape.flops(), err});
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  // Plain float32 in cuDNN too: no TF32 tensor cores behind our back.
  setenv("NVIDIA_TF32_OVERRIDE", "0", 1);
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const int samples = quick ? 5 : 21;
  try {
    int device = 0;
    NG_CUDA_CHECK(cudaGetDevice(&device));
    cudaDeviceProp prop{};
    NG_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    std::printf("device: %s, %d SMs, L2 %.0f MB; float32 (cuDNN FMA math, TF32 off); median of %d samples\n",
                prop.name, prop.multiProcessorCount, prop.l2CacheSize / 1e6, samples);
    cudaStream_t stream;
    NG_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    ng::test::CudnnHandle handle(stream);
    std::vector<Row> rows;
    for (const ConvShape& s : kShapes) {
      std::fprintf(stderr, "benchmarking %s\n", s.name);
      bench_shape(s, handle.get(), stream, size_t(prop.l2CacheSize), samples, rows);
    }

    // Validation first, then the table.
    bool valid = true;
    for (const Row& r : rows)
      if (!(r.error < 1e-4)) {
        std::printf("MISMATCH %s %s: relative error %.2e vs cuDNN\n", r.shape.c_str(), r.what.c_str(), r.error);
        valid = false;
      }
    std::printf("\n%-58s %-14s %9s %9s %8s %8s %7s %9s  %s\n", "shape (batch 128 unless noted)", "pass", "ours ms",
                "cuDNN ms", "ours TF", "cuDNN TF", "ratio", "rel err", "cuDNN algorithm");
    double log_sum[4] = {0, 0, 0, 0};
    int count[4] = {0, 0, 0, 0}, forward_met = 0;
    const char* passes[4] = {"forward", "fwd+bias+relu", "input grad", "weight grad"};
    for (const Row& r : rows) {
      const double ratio = r.ref_ms / r.ours_ms;  // > 1: ours is faster
      std::printf("%-58s %-14s %9.4f %9.4f %8.2f %8.2f %7.2f %9.1e  %s\n", r.shape.c_str(), r.what.c_str(), r.ours_ms,
                  r.ref_ms, r.flops / r.ours_ms / 1e9, r.flops / r.ref_ms / 1e9, ratio, r.error, r.algo.c_str());
      for (int k = 0; k < 4; ++k)
        if (r.what == passes[k]) log_sum[k] += std::log(ratio), ++count[k];
      if (r.what == "forward" && ratio >= 0.7) ++forward_met;
    }
    std::printf("\nratio = cuDNN time / our time (1.00 = as fast as cuDNN's best fp32 algorithm); TF = TFLOP/s\n");
    for (int k = 0; k < 4; ++k)
      if (count[k]) std::printf("geometric mean ratio, %-14s %.2f over %d shapes\n", passes[k], std::exp(log_sum[k] / count[k]), count[k]);
    std::printf("target forward >= 0.70 of cuDNN: met on %d of %d shapes\n", forward_met, count[0]);
    cudaStreamDestroy(stream);
    return valid ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_cuda_conv: %s\n", e.what());
    return 1;
  }
}

#else

int main() {
  std::fprintf(stderr, "bench_cuda_conv: built without cuDNN (libcudnn not found); nothing to race against\n");
  return 1;
}

#endif
