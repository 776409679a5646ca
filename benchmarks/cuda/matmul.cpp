// Our GEMM kernels (kernels/matmul.h) against cuBLAS at the same precision:
//   fp32: sgemm_simt (CUDA cores)        vs cublasSgemm, default math (no TF32)
//   tf32: gemm_mma tf32 (tensor cores)   vs cublasGemmEx, CUBLAS_COMPUTE_32F_FAST_TF32
//   bf16: gemm_mma bf16 (tensor cores)   vs cublasGemmEx, CUBLAS_COMPUTE_32F_FAST_16BF
// all with float32 inputs and outputs in device memory, on square sizes and
// on the models' linear layers at batch 128 (forward, input gradient, weight
// gradient), in the layouts the engine passes them.
//
//   build/bin/bench_cuda_matmul [--precision fp32|tf32|bf16|all] [--quick] [--min-ms 200]
//
// Method: validate first (ours vs cuBLAS, relative Frobenius difference),
// warm up, then time each launch with a pair of CUDA events, rotating among
// enough copies of the inputs to exceed twice the L2 cache, and report the
// median. TFLOP/s counts 2*M*N*K per product. The table is printed last.
//
// Targets (docs/kernels.md): fp32 SIMT >= 80% of cublasSgemm at 4096^3,
// tensor-core tf32 / bf16 >= 70% of cuBLAS at the same precision.
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cuda_check.h"
#include "kernels/matmul.h"

namespace {

using ng::kernels::GemmMath;

#define CUBLAS_CHECK(call)                                                                    \
  do {                                                                                        \
    const cublasStatus_t s_ = (call);                                                         \
    if (s_ != CUBLAS_STATUS_SUCCESS)                                                          \
      throw std::runtime_error(std::string(#call) + " failed with status " + std::to_string(int(s_))); \
  } while (0)

struct Shape {
  std::string name;
  int64_t m, n, k;
  bool ta, tb;  // operand stored transposed (column-major), as the engine passes it
};

std::vector<Shape> shapes(bool quick) {
  std::vector<Shape> s;
  for (int64_t n : {1024, 2048, 4096, 8192})
    if (!quick || n <= 4096) s.push_back({"square", n, n, n, false, false});
  // Linear(in, out) at batch 128: forward x @ W^T (NT), input grad g @ W (NN),
  // weight grad g^T @ x (TN).
  const struct {
    const char* name;
    int64_t in, out;
  } layers[] = {{"vae Linear(3136,256)", 3136, 256},
                {"vae Linear(256,3136)", 256, 3136},
                {"gan Linear(64,6272)", 64, 6272},
                {"gan Linear(6272,1)", 6272, 1}};
  for (const auto& l : layers) {
    s.push_back({std::string(l.name) + " fwd", 128, l.out, l.in, false, true});
    s.push_back({std::string(l.name) + " dx", 128, l.in, l.out, false, false});
    s.push_back({std::string(l.name) + " dW", l.out, l.in, 128, true, false});
  }
  return s;
}

const char* name_of(GemmMath m) { return m == GemmMath::fp32 ? "fp32" : m == GemmMath::tf32 ? "tf32" : "bf16"; }

float* device_floats(size_t n) {
  void* p = nullptr;
  NG_CUDA_CHECK(cudaMalloc(&p, n * sizeof(float)));
  return static_cast<float*>(p);
}

// Input copies to rotate through: enough that one round exceeds 2x the L2.
struct Buffers {
  std::vector<float*> a, b, c;
  void free_all() {
    for (auto* v : {&a, &b, &c})
      for (float* p : *v) cudaFree(p);
  }
};

Buffers make_buffers(const Shape& s, int l2_bytes, std::mt19937& rng) {
  const size_t na = size_t(s.m * s.k), nb = size_t(s.k * s.n), nc = size_t(s.m * s.n);
  const size_t set_bytes = (na + nb + nc) * sizeof(float);
  const int sets = int(std::clamp<size_t>(2 * size_t(l2_bytes) / set_bytes + 1, 1, 32));
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  std::vector<float> ha(na), hb(nb);
  for (float& x : ha) x = dist(rng);
  for (float& x : hb) x = dist(rng);
  Buffers buf;
  for (int i = 0; i < sets; ++i) {
    float *a = device_floats(na), *b = device_floats(nb), *c = device_floats(nc);
    NG_CUDA_CHECK(cudaMemcpy(a, ha.data(), na * sizeof(float), cudaMemcpyHostToDevice));
    NG_CUDA_CHECK(cudaMemcpy(b, hb.data(), nb * sizeof(float), cudaMemcpyHostToDevice));
    buf.a.push_back(a);
    buf.b.push_back(b);
    buf.c.push_back(c);
  }
  return buf;
}

// The stored matrices are dense: ld is the stored row length.
int64_t lda_of(const Shape& s) { return s.ta ? s.m : s.k; }
int64_t ldb_of(const Shape& s) { return s.tb ? s.k : s.n; }

void run_ours(const Shape& s, GemmMath math, const float* a, const float* b, float* c, void* ws, size_t ws_bytes,
              cudaStream_t stream) {
  ng::kernels::GemmProblem p;
  p.m = s.m;
  p.n = s.n;
  p.k = s.k;
  p.a = a;
  p.lda = lda_of(s);
  p.trans_a = s.ta;
  p.b = b;
  p.ldb = ldb_of(s);
  p.trans_b = s.tb;
  p.c = c;
  p.ldc = s.n;
  ng::kernels::launch_gemm(p, math, ws, ws_bytes, stream);
}

size_t our_workspace(const Shape& s, GemmMath math) {
  ng::kernels::GemmProblem p;
  p.m = s.m;
  p.n = s.n;
  p.k = s.k;
  return ng::kernels::gemm_workspace_bytes(p, math);
}

// Row-major C = A @ B as column-major C^T = B^T @ A^T (see tests/cuda/test_cuda_matmul.cpp).
void run_cublas(cublasHandle_t h, const Shape& s, GemmMath math, const float* a, const float* b, float* c) {
  const float alpha = 1.f, beta = 0.f;
  const cublasOperation_t op_a = s.ta ? CUBLAS_OP_T : CUBLAS_OP_N, op_b = s.tb ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int m = int(s.m), n = int(s.n), k = int(s.k), lda = int(lda_of(s)), ldb = int(ldb_of(s));
  if (math == GemmMath::fp32) {
    CUBLAS_CHECK(cublasSgemm(h, op_b, op_a, n, m, k, &alpha, b, ldb, a, lda, &beta, c, n));
    return;
  }
  const cublasComputeType_t compute =
      math == GemmMath::tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F_FAST_16BF;
  CUBLAS_CHECK(cublasGemmEx(h, op_b, op_a, n, m, k, &alpha, b, CUDA_R_32F, ldb, a, CUDA_R_32F, lda, &beta, c,
                            CUDA_R_32F, n, compute, CUBLAS_GEMM_DEFAULT));
}

// ||x - y|| / ||y|| over two device arrays.
double relative_difference(const float* x, const float* y, size_t n) {
  std::vector<float> hx(n), hy(n);
  NG_CUDA_CHECK(cudaMemcpy(hx.data(), x, n * sizeof(float), cudaMemcpyDeviceToHost));
  NG_CUDA_CHECK(cudaMemcpy(hy.data(), y, n * sizeof(float), cudaMemcpyDeviceToHost));
  double num = 0, den = 0;
  for (size_t i = 0; i < n; ++i) {
    const double d = double(hx[i]) - double(hy[i]);
    num += d * d;
    den += double(hy[i]) * double(hy[i]);
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

// Median milliseconds of `launch(set)` over rotating input sets.
template <class Launch>
double median_ms(Launch launch, int sets, double min_ms, cudaStream_t stream) {
  cudaEvent_t start, stop;
  NG_CUDA_CHECK(cudaEventCreate(&start));
  NG_CUDA_CHECK(cudaEventCreate(&stop));
  for (int i = 0; i < 3; ++i) launch(i % sets);  // warm-up (module load, handles, clocks)
  NG_CUDA_CHECK(cudaStreamSynchronize(stream));
  std::vector<double> ms;
  double total = 0;
  for (int i = 0; (total < min_ms || i < 10) && i < 1000; ++i) {
    NG_CUDA_CHECK(cudaEventRecord(start, stream));
    launch(i % sets);
    NG_CUDA_CHECK(cudaEventRecord(stop, stream));
    NG_CUDA_CHECK(cudaEventSynchronize(stop));
    float t = 0;
    NG_CUDA_CHECK(cudaEventElapsedTime(&t, start, stop));
    ms.push_back(t);
    total += t;
  }
  NG_CUDA_CHECK(cudaEventDestroy(start));
  NG_CUDA_CHECK(cudaEventDestroy(stop));
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

struct Row {
  std::string shape, layout, precision;
  double ours_ms, ref_ms, flops, diff;
  bool valid;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Our GEMM kernels against cuBLAS at the same precision"};
  std::string precision = "all";
  bool quick = false;
  double min_ms = 200;
  app.add_option("--precision", precision, "fp32, tf32, bf16 or all")->check(CLI::IsMember({"fp32", "tf32", "bf16", "all"}));
  app.add_flag("--quick", quick, "skip 8192^3 and time less");
  app.add_option("--min-ms", min_ms, "time each kernel for at least this long (ms)");
  CLI11_PARSE(app, argc, argv);
  if (quick) min_ms = std::min(min_ms, 50.0);

  try {
    int dev = 0;
    NG_CUDA_CHECK(cudaGetDevice(&dev));
    cudaDeviceProp prop{};
    NG_CUDA_CHECK(cudaGetDeviceProperties(&prop, dev));
    std::fprintf(stderr, "device: %s, %d SMs, L2 %d MB\n", prop.name, prop.multiProcessorCount,
                 prop.l2CacheSize >> 20);
    cudaStream_t stream;
    NG_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    cublasHandle_t handle;
    CUBLAS_CHECK(cublasCreate(&handle));
    CUBLAS_CHECK(cublasSetStream(handle, stream));
    CUBLAS_CHECK(cublasSetMathMode(handle, CUBLAS_DEFAULT_MATH));  // fp32 Sgemm stays fp32

    std::vector<GemmMath> maths;
    for (GemmMath m : {GemmMath::fp32, GemmMath::tf32, GemmMath::bf16})
      if (precision == "all" || precision == name_of(m)) maths.push_back(m);
    const std::vector<Shape> cases = shapes(quick);

    size_t ws_bytes = 0;
    for (const Shape& s : cases)
      for (GemmMath m : maths) ws_bytes = std::max(ws_bytes, our_workspace(s, m));
    void* ws = nullptr;
    if (ws_bytes) NG_CUDA_CHECK(cudaMalloc(&ws, ws_bytes));

    std::mt19937 rng(1234);
    std::vector<Row> rows;
    for (const Shape& s : cases) {
      Buffers buf = make_buffers(s, prop.l2CacheSize, rng);
      const int sets = int(buf.a.size());
      float* check = device_floats(size_t(s.m * s.n));
      for (GemmMath m : maths) {
        Row r;
        r.shape = s.name + " " + std::to_string(s.m) + "x" + std::to_string(s.n) + "x" + std::to_string(s.k);
        r.layout = std::string(s.ta ? "T" : "N") + (s.tb ? "T" : "N");
        r.precision = name_of(m);
        r.flops = 2.0 * double(s.m) * double(s.n) * double(s.k);
        // Validate: ours against cuBLAS on the same inputs.
        run_ours(s, m, buf.a[0], buf.b[0], buf.c[0], ws, ws_bytes, stream);
        run_cublas(handle, s, m, buf.a[0], buf.b[0], check);
        NG_CUDA_CHECK(cudaStreamSynchronize(stream));
        r.diff = relative_difference(buf.c[0], check, size_t(s.m * s.n));
        const double limit = m == GemmMath::fp32 ? 1e-5 : m == GemmMath::tf32 ? 2e-3 : 2e-2;
        r.valid = r.diff <= limit;
        r.ours_ms = median_ms(
            [&](int i) { run_ours(s, m, buf.a[size_t(i)], buf.b[size_t(i)], buf.c[size_t(i)], ws, ws_bytes, stream); },
            sets, min_ms, stream);
        r.ref_ms = median_ms([&](int i) { run_cublas(handle, s, m, buf.a[size_t(i)], buf.b[size_t(i)], buf.c[size_t(i)]); },
                             sets, min_ms, stream);
        std::fprintf(stderr, "%-40s %s %s  ours %.4f ms  cuBLAS %.4f ms  diff %.2e%s\n", r.shape.c_str(),
                     r.layout.c_str(), r.precision.c_str(), r.ours_ms, r.ref_ms, r.diff, r.valid ? "" : "  INVALID");
        rows.push_back(r);
      }
      NG_CUDA_CHECK(cudaFree(check));
      buf.free_all();
    }

    std::printf("\n%s, %d SMs. Median of CUDA-event timings; TFLOP/s = 2MNK / time.\n", prop.name,
                prop.multiProcessorCount);
    std::printf("| %-40s | %-3s | %-4s | %10s | %10s | %9s | %11s | %6s | %-9s |\n", "shape (MxNxK)", "op", "prec",
                "ours ms", "cuBLAS ms", "ours TF/s", "cuBLAS TF/s", "ratio", "valid");
    std::printf("|%s|\n", std::string(128, '-').c_str());
    int invalid = 0;
    for (const Row& r : rows) {
      std::printf("| %-40s | %-3s | %-4s | %10.4f | %10.4f | %9.2f | %11.2f | %6.2f | %-9s |\n", r.shape.c_str(),
                  r.layout.c_str(), r.precision.c_str(), r.ours_ms, r.ref_ms, r.flops / r.ours_ms * 1e-9,
                  r.flops / r.ref_ms * 1e-9, r.ref_ms / r.ours_ms, r.valid ? "ok" : "MISMATCH");
      invalid += !r.valid;
    }
    std::printf("ratio = cuBLAS time / our time (1.00 = as fast as cuBLAS). Targets: fp32 >= 0.80 at 4096^3, "
                "tf32/bf16 >= 0.70.\n");
    if (ws) cudaFree(ws);
    CUBLAS_CHECK(cublasDestroy(handle));
    NG_CUDA_CHECK(cudaStreamDestroy(stream));
    return invalid ? 1 : 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_cuda_matmul: %s\n", e.what());
    return 1;
  }
}
