// Our implicit-GEMM convolutions (kernels/conv.h) against cuDNN at its best
// algorithm (cudnnFind), on every convolution of the three canonical models
// at batch 128 and a few large shapes:
//
//   forward, input grad, weight grad   ours fp32 (CUDA cores) vs cuDNN in FMA
//                                      math (strict fp32); ours tf32 (tensor
//                                      cores) vs cuDNN in TF32 math (what
//                                      PyTorch runs by default)
//   forward + bias + relu (epilogue)   vs cudnnConvolutionBiasActivationForward (FMA)
//
// Method (race.h): validate first (relative error of ours against cuDNN's
// FMA result), then ours and cuDNN interleaved, inputs rotated over more than
// twice the L2. Where cuDNN runs Winograd or FFT its TFLOP/s are marked
// effective. The ConvTranspose layers of the models are the input gradients
// of the convolutions listed with them.
//
//   bench_cuda_conv [--quick] [--no-large] [--list]
//     --quick     the model shapes only, fewer samples
//     --no-large  the model shapes only
//     --list   print the rows this would measure and exit (no GPU needed)
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "kernels/conv.h"
#include "kernels/cuda_check.h"
#include "race.h"

#if NANOGEN_HAVE_CUDNN
#include "support/cudnn_conv.h"
#endif

namespace {

using ng::kernels::ConvGeometry;

struct ConvShape {
  const char* name;
  int64_t n, cin, h, w, cout, k, s, p;
  bool large;  // left out by --quick

  ConvGeometry geometry() const {
    const int64_t ho = (h + 2 * p - k) / s + 1, wo = (w + 2 * p - k) / s + 1;
    return {n, cin, h, w, cout, k, k, s, p, ho, wo};
  }
  // Direct-convolution FLOPs, the same count for every pass.
  double flops() const {
    const ConvGeometry g = geometry();
    return 2.0 * double(g.batch * g.c_out * g.h_out * g.w_out) * double(g.c_in * g.kh * g.kw);
  }
};

const std::vector<ConvShape> kShapes = {
    {"VAE enc0 Conv(1,32,4,s2,p1) 28 / dec1 ConvT(32,1) 14->28", 128, 1, 28, 28, 32, 4, 2, 1, false},
    {"VAE enc1 Conv(32,64,4,s2,p1) 14 / dec0 ConvT(64,32) 7->14", 128, 32, 14, 14, 64, 4, 2, 1, false},
    {"DCGAN D0 Conv(1,64,4,s2,p1) 28 / G ConvT(64,1) 14->28", 128, 1, 28, 28, 64, 4, 2, 1, false},
    {"DCGAN D1 Conv(64,128,4,s2,p1) 14 / G ConvT(128,64) 7->14", 128, 64, 14, 14, 128, 4, 2, 1, false},
    {"U-Net stem Conv(1,64,3,p1) 28", 128, 1, 28, 28, 64, 3, 1, 1, false},
    {"U-Net Conv(64,64,3,p1) 28", 128, 64, 28, 28, 64, 3, 1, 1, false},
    {"U-Net down Conv(64,64,3,s2,p1) 28->14", 128, 64, 28, 28, 64, 3, 2, 1, false},
    {"U-Net Conv(64,128,3,p1) 14", 128, 64, 14, 14, 128, 3, 1, 1, false},
    {"U-Net Conv(128,128,3,p1) 14", 128, 128, 14, 14, 128, 3, 1, 1, false},
    {"U-Net down Conv(128,128,3,s2,p1) 14->7", 128, 128, 14, 14, 128, 3, 2, 1, false},
    {"U-Net Conv(128,128,3,p1) 7", 128, 128, 7, 7, 128, 3, 1, 1, false},
    {"U-Net up Conv(256,128,3,p1) 7", 128, 256, 7, 7, 128, 3, 1, 1, false},
    {"U-Net up Conv(256,128,3,p1) 14", 128, 256, 14, 14, 128, 3, 1, 1, false},
    {"U-Net up Conv(192,64,3,p1) 28", 128, 192, 28, 28, 64, 3, 1, 1, false},
    {"U-Net skip Conv(256,128,1) 14", 128, 256, 14, 14, 128, 1, 1, 0, false},
    {"U-Net attn qkv Conv(128,384,1) 7", 128, 128, 7, 7, 384, 1, 1, 0, false},
    {"U-Net out Conv(64,1,3,p1) 28", 128, 64, 28, 28, 1, 3, 1, 1, false},
    {"large Conv(256,256,3,p1) 56", 128, 256, 56, 56, 256, 3, 1, 1, true},
    {"large Conv(512,512,3,p1) 28", 128, 512, 28, 28, 512, 3, 1, 1, true},
    {"large Conv(128,256,3,s2,p1) 112->56 (batch 64)", 64, 128, 112, 112, 256, 3, 2, 1, true},
};

// The rows of one shape: pass and what it races.
const char* const kRows[][2] = {
    {"forward", "cuDNN FMA"},     {"forward", "cuDNN TF32"},  {"input grad", "cuDNN FMA"},
    {"input grad", "cuDNN TF32"}, {"weight grad", "cuDNN FMA"}, {"weight grad", "cuDNN TF32"},
    {"fwd+bias+relu", "cuDNN BiasActivation FMA"},
};

}  // namespace

#if NANOGEN_HAVE_CUDNN

namespace {

using ng::bench::Launch;
using ng::bench::RaceResult;
using ng::test::CudnnConv;

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

double relative_error(const float* ours, const float* reference, size_t n) {
  const std::vector<float> a = to_host(ours, n), b = to_host(reference, n);
  double num = 0, den = 0;
  for (size_t i = 0; i < n; ++i) {
    const double d = double(a[i]) - double(b[i]);
    num += d * d, den += double(b[i]) * double(b[i]);
  }
  return std::isfinite(num) ? std::sqrt(num / std::max(den, 1e-300)) : INFINITY;
}

// cuDNN's algorithm names, and whether one computes fewer FLOPs than a
// direct convolution (its FLOP rate is then "effective").
std::string algo_name(cudnnConvolutionFwdAlgo_t a) {
  const char* names[] = {"IMPLICIT_GEMM", "IMPLICIT_PRECOMP_GEMM", "GEMM", "DIRECT", "FFT", "FFT_TILING",
                         "WINOGRAD", "WINOGRAD_NONFUSED"};
  return int(a) < 8 ? names[int(a)] : std::to_string(int(a));
}
std::string algo_name(cudnnConvolutionBwdDataAlgo_t a) {
  const char* names[] = {"ALGO_0", "ALGO_1", "FFT", "FFT_TILING", "WINOGRAD", "WINOGRAD_NONFUSED"};
  return int(a) < 6 ? names[int(a)] : std::to_string(int(a));
}
std::string algo_name(cudnnConvolutionBwdFilterAlgo_t a) {
  const char* names[] = {"ALGO_0", "ALGO_1", "FFT", "ALGO_3", "WINOGRAD", "WINOGRAD_NONFUSED", "FFT_TILING"};
  return int(a) < 7 ? names[int(a)] : std::to_string(int(a));
}
template <class Algo>
bool is_effective(Algo a) {
  const std::string n = algo_name(a);
  return n.find("FFT") != std::string::npos || n.find("WINOGRAD") != std::string::npos;
}
const char* math_name(cudnnMathType_t m) {
  switch (m) {
    case CUDNN_FMA_MATH: return "fma";
    case CUDNN_TENSOR_OP_MATH: return "tensor-op";
    case CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION: return "tensor-op";
    default: return "default";
  }
}

// The fastest successful result of a cudnnFind, in the asked math (FMA: only
// results that stayed in FMA math count; TF32: any).
template <class Perf>
const Perf* fastest(const std::vector<Perf>& results, int found, bool fma_only) {
  for (int i = 0; i < found; ++i) {
    const Perf& p = results[size_t(i)];
    if (p.status == CUDNN_STATUS_SUCCESS && (!fma_only || p.mathType == CUDNN_FMA_MATH)) return &p;
  }
  return nullptr;
}

struct Context {
  cudnnHandle_t handle;
  cudaStream_t stream;
  size_t l2_bytes;
  int samples;
  ng::bench::Table* table;
  DeviceBuffer* workspace;
  size_t workspace_bytes;
};

// Everything one shape needs, `sets` times over.
struct ShapeBuffers {
  int sets = 0;
  std::vector<DeviceBuffer> x, w, b, dy, y, dx, dw;
};

void race_row(const Context& ctx, const ConvShape& shape, const ShapeBuffers& buf, const std::string& pass,
              const std::string& theirs, bool effective, const Launch& ours, bool ours_tf32, const Launch& reference,
              double error, double bytes) {
  ng::bench::Row row;
  row.shape = shape.name;
  row.pass = pass + (ours_tf32 ? " (ours tf32)" : "");
  row.theirs = theirs;
  row.flops = shape.flops();
  row.bytes = bytes;
  // Ours is held to the ceiling of the math it ran: fp32 on CUDA cores, or tf32 tensor cores.
  row.peak_tflops = ours_tf32 ? ctx.table->ceilings().tf32_tflops : ctx.table->ceilings().fp32_tflops;
  row.effective = effective;
  row.error = error;
  const RaceResult r = ng::bench::race(ctx.stream, buf.sets, ctx.samples, ours, reference);
  ctx.table->print(row, r);
}

void bench_shape(const Context& ctx, const ConvShape& shape) {
  const ConvGeometry g = shape.geometry();
  const size_t nx = size_t(g.batch * g.c_in * g.h * g.w), nw = size_t(g.c_out * g.c_in * g.kh * g.kw),
               ny = size_t(g.batch * g.c_out * g.h_out * g.w_out);
  const double bx = double(nx) * 4, bw = double(nw) * 4, by = double(ny) * 4;
  ShapeBuffers buf;
  // Each pass touches one input image set, the weights and one output set.
  buf.sets = ng::bench::rotation_sets((nx + nw + ny) * sizeof(float), ctx.l2_bytes);
  for (int i = 0; i < buf.sets; ++i) {
    buf.x.emplace_back(nx), buf.w.emplace_back(nw), buf.b.emplace_back(size_t(g.c_out)), buf.dy.emplace_back(ny);
    buf.y.emplace_back(ny), buf.dx.emplace_back(nx), buf.dw.emplace_back(nw);
    fill_random(buf.x.back(), 10 * i + 1), fill_random(buf.w.back(), 10 * i + 2);
    fill_random(buf.b.back(), 10 * i + 3), fill_random(buf.dy.back(), 10 * i + 4);
  }
  DeviceBuffer reference(std::max({nx, nw, ny}));
  const auto f32 = ng::kernels::ScalarType::f32;
  ng::kernels::ConvTuning tf32_tune;
  tf32_tune.math = ng::kernels::ConvMath::tf32;
  DeviceBuffer our_ws((std::max(ng::kernels::conv2d_weight_grad_workspace(f32, g),
                                ng::kernels::conv2d_weight_grad_workspace(f32, g, tf32_tune)) + 3) / 4);
  const CudnnConv fma(g, CUDNN_DATA_FLOAT, CUDNN_FMA_MATH), tf32(g, CUDNN_DATA_FLOAT, CUDNN_TENSOR_OP_MATH);
  void* ws = ctx.workspace->ptr;
  const size_t ws_limit = ctx.workspace_bytes;
  const auto at = [](const std::vector<DeviceBuffer>& v, int i) { return v[size_t(i)].ptr; };
  const auto sync = [&] { NG_CUDA_CHECK(cudaStreamSynchronize(ctx.stream)); };

  // One pass raced against cuDNN twice: ours in fp32 against cuDNN in FMA
  // math, then ours in tf32 (tensor cores; fp32 still on the one-channel
  // layers, too narrow for an mma tile) against cuDNN in TF32 math; ours
  // checked against cuDNN's FMA result. find(conv, perf, found)
  // runs the pass's cudnnFind; run(conv, algo, set, out) runs cuDNN's pass
  // on a set; ours(set, math) writes output[set]. Returns the FMA winner.
  const auto race_pass = [&]<class Perf>(const char* pass, std::vector<Perf> perf, const auto& find, const auto& run,
                                         const auto& ours, const std::vector<DeviceBuffer>& output, size_t n) {
    std::optional<Perf> fma_best;
    double error = NAN;
    for (const CudnnConv* conv : {&fma, &tf32}) {
      const bool is_fma = conv == &fma;
      int found = 0;
      find(*conv, perf, found);
      const Perf* best = fastest(perf, found, is_fma);
      if (!best) {
        ctx.table->skip(shape.name, pass, std::string("cuDNN found no algorithm in ") + (is_fma ? "FMA" : "TF32") +
                                              " math");
        continue;
      }
      const auto algo = best->algo;
      NG_CUDNN_CHECK(cudnnSetConvolutionMathType(conv->conv, best->mathType));  // run what was found
      const ng::kernels::ConvMath math = is_fma ? ng::kernels::ConvMath::fp32 : ng::kernels::ConvMath::tf32;
      const Launch our_pass = [&](int i) { ours(i, math); };
      if (is_fma) {
        fma_best = *best;
        run(fma, algo, 0, reference.ptr);
      }
      if (fma_best) {  // against cuDNN's FMA result, in both rows
        our_pass(0);
        sync();
        error = relative_error(output[0].ptr, reference.ptr, n);
      }
      race_row(ctx, shape, buf, pass, std::string("cuDNN ") + algo_name(algo) + " " + math_name(best->mathType),
               is_effective(algo), our_pass, math == ng::kernels::ConvMath::tf32,
               [&](int i) { run(*conv, algo, i, output[size_t(i)].ptr); }, error, bx + bw + by);
    }
    return fma_best;
  };
  // The workspace handed to cuDNN is the whole buffer: at least what any algorithm asks for.
  const auto forward_best = race_pass(
      "forward", std::vector<cudnnConvolutionFwdAlgoPerf_t>(CUDNN_CONVOLUTION_FWD_ALGO_COUNT),
      [&](const CudnnConv& c, auto& perf, int& found) {
        NG_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(ctx.handle, c.x, at(buf.x, 0), c.w, at(buf.w, 0), c.conv,
                                                              c.y, reference.ptr, int(perf.size()), &found,
                                                              perf.data(), ws, ws_limit));
      },
      [&](const CudnnConv& c, auto algo, int i, float* out) {
        c.forward(ctx.handle, algo, ws, ws_limit, at(buf.x, i), at(buf.w, i), out);
      },
      [&](int i, ng::kernels::ConvMath math) {
        ng::kernels::ConvTuning tune;
        tune.math = math;
        ng::kernels::launch_conv2d_forward(f32, g, at(buf.y, i), at(buf.x, i), at(buf.w, i), nullptr, {}, ctx.stream,
                                           tune);
      },
      buf.y, ny);
  race_pass(
      "input grad", std::vector<cudnnConvolutionBwdDataAlgoPerf_t>(CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT),
      [&](const CudnnConv& c, auto& perf, int& found) {
        NG_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(ctx.handle, c.w, at(buf.w, 0), c.y, at(buf.dy, 0),
                                                                   c.conv, c.x, reference.ptr, int(perf.size()),
                                                                   &found, perf.data(), ws, ws_limit));
      },
      [&](const CudnnConv& c, auto algo, int i, float* out) {
        c.backward_data(ctx.handle, algo, ws, ws_limit, at(buf.dy, i), at(buf.w, i), out);
      },
      [&](int i, ng::kernels::ConvMath math) {
        ng::kernels::ConvTuning tune;
        tune.math = math;
        ng::kernels::launch_conv2d_input_grad(f32, g, at(buf.dx, i), at(buf.dy, i), at(buf.w, i), nullptr,
                                              ctx.stream, tune);
      },
      buf.dx, nx);
  race_pass(
      "weight grad", std::vector<cudnnConvolutionBwdFilterAlgoPerf_t>(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT),
      [&](const CudnnConv& c, auto& perf, int& found) {
        NG_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(ctx.handle, c.x, at(buf.x, 0), c.y,
                                                                     at(buf.dy, 0), c.conv, c.w, reference.ptr,
                                                                     int(perf.size()), &found, perf.data(), ws,
                                                                     ws_limit));
      },
      [&](const CudnnConv& c, auto algo, int i, float* out) {
        c.backward_filter(ctx.handle, algo, ws, ws_limit, at(buf.x, i), at(buf.dy, i), out);
      },
      [&](int i, ng::kernels::ConvMath math) {
        ng::kernels::ConvTuning tune;
        tune.math = math;
        ng::kernels::launch_conv2d_weight_grad(f32, g, at(buf.dw, i), at(buf.x, i), at(buf.dy, i), our_ws.ptr,
                                               ctx.stream, tune);
      },
      buf.dw, nw);

  // Fused, at the FMA forward winner: our bias + relu epilogue against
  // cuDNN's one-call convolution + bias + activation.
  if (!forward_best) return;
  const auto algo = forward_best->algo;
  cudnnActivationDescriptor_t act;
  NG_CUDNN_CHECK(cudnnCreateActivationDescriptor(&act));
  NG_CUDNN_CHECK(cudnnSetActivationDescriptor(act, CUDNN_ACTIVATION_RELU, CUDNN_NOT_PROPAGATE_NAN, 0.0));
  NG_CUDNN_CHECK(cudnnSetConvolutionMathType(fma.conv, forward_best->mathType));
  const Launch theirs_fused = [&](int i) {
    fma.bias_activation_forward(ctx.handle, algo, ws, ws_limit, at(buf.x, i), at(buf.w, i), at(buf.b, i), act,
                                at(buf.y, i));
  };
  const ng::kernels::ConvEpilogue relu{ng::kernels::ConvActivation::relu, 0.0f};
  const Launch ours_fused = [&](int i) {
    ng::kernels::launch_conv2d_forward(f32, g, at(buf.y, i), at(buf.x, i), at(buf.w, i), at(buf.b, i), relu,
                                       ctx.stream);
  };
  theirs_fused(0);
  NG_CUDA_CHECK(cudaMemcpyAsync(reference.ptr, at(buf.y, 0), ny * sizeof(float), cudaMemcpyDeviceToDevice,
                                ctx.stream));
  ours_fused(0);
  sync();
  race_row(ctx, shape, buf, "fwd+bias+relu", "cudnnConvolutionBiasActivationForward " + algo_name(algo) + " fma",
           is_effective(algo), ours_fused, false, theirs_fused, relative_error(at(buf.y, 0), reference.ptr, ny),
           bx + bw + by);
  cudnnDestroyActivationDescriptor(act);
}

}  // namespace

#endif  // NANOGEN_HAVE_CUDNN

int main(int argc, char** argv) {
  bool quick = false, list = false, no_large = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else if (std::strcmp(argv[i], "--list") == 0) {
      list = true;
    } else if (std::strcmp(argv[i], "--no-large") == 0) {
      no_large = true;
    } else {
      std::fprintf(stderr, "bench_cuda_conv: unknown argument '%s' (expected --quick, --no-large or --list)\n", argv[i]);
      return 2;
    }
  }
  if (list) {
    for (const ConvShape& s : kShapes) {
      if ((quick || no_large) && s.large) continue;
      for (const auto& row : kRows) std::printf("%-58s %-14s vs %s\n", s.name, row[0], row[1]);
    }
    return 0;
  }
#if NANOGEN_HAVE_CUDNN
  const int samples = quick ? 3 : 9;
  try {
    const ng::bench::DeviceFacts device = ng::bench::device_facts();
    cudaStream_t stream;
    NG_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    cublasHandle_t blas;
    NG_CUBLAS_CHECK(cublasCreate(&blas));
    const ng::bench::Ceilings ceilings = ng::bench::measure_ceilings(stream, blas);
    cublasDestroy(blas);
    ng::bench::print_preamble("bench_cuda_conv: our fp32 convolutions against cuDNN's best (cudnnFind)", device,
                              ceilings, samples);
    ng::test::CudnnHandle handle(stream);
    ng::bench::Table table("convolutions, float32 data, batch 128 unless noted", ceilings);
    table.print_header();
    DeviceBuffer workspace((size_t(1) << 30) / 4);
    const Context ctx{handle.get(), stream, device.l2_bytes, samples, &table, &workspace, size_t(1) << 30};
    for (const ConvShape& s : kShapes) {
      if ((quick || no_large) && s.large) continue;
      bench_shape(ctx, s);
    }
    table.print_footer();
    cudaStreamDestroy(stream);
    return table.all_valid() ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_cuda_conv: %s\n", e.what());
    return 1;
  }
#else
  std::fprintf(stderr, "bench_cuda_conv: built without cuDNN (libcudnn not found); nothing to race against\n");
  return 1;
#endif
}
