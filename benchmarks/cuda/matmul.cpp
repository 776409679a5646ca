// Our GEMM kernels (kernels/matmul.h) against cuBLAS at the same precision:
//   fp32: sgemm_simt (CUDA cores)        vs cublasSgemm, default math (no TF32)
//   tf32: gemm_mma tf32 (tensor cores)   vs cublasGemmEx, CUBLAS_COMPUTE_32F_FAST_TF32
//   bf16: gemm_mma bf16 (tensor cores)   vs cublasGemmEx, CUBLAS_COMPUTE_32F_FAST_16BF
// all with float32 inputs and outputs in device memory, on square sizes and
// on the models' linear layers at batch 128 (forward, input gradient, weight
// gradient), in the layouts the engine passes them.
//
// Method (race.h): validate first (ours vs cuBLAS, relative Frobenius
// difference), then ours and cuBLAS interleaved with at least 20 launches per
// event pair, inputs rotated over more than twice the L2 (queried). bf16 is
// raced twice: against cuBLAS converting the same fp32 inputs, and against
// cuBLAS on native bf16 inputs (converted once, beforehand): the bound for an
// engine that stores bf16. TFLOP/s count 2*M*N*K per product.
//
//   build/bin/bench_cuda_matmul [--precision fp32|tf32|bf16|all] [--quick] [--list]
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
#include "race.h"

namespace {

using ng::kernels::GemmMath;

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
  std::vector<__nv_bfloat16*> a16, b16;  // the same inputs rounded to bf16
  void free_all() {
    for (auto* v : {&a, &b, &c})
      for (float* p : *v) cudaFree(p);
    for (auto* v : {&a16, &b16})
      for (__nv_bfloat16* p : *v) cudaFree(p);
  }
};

__nv_bfloat16* device_bf16(const std::vector<float>& host) {
  std::vector<__nv_bfloat16> h(host.size());
  for (size_t i = 0; i < host.size(); ++i) h[i] = __float2bfloat16(host[i]);
  void* p = nullptr;
  NG_CUDA_CHECK(cudaMalloc(&p, h.size() * sizeof(__nv_bfloat16)));
  NG_CUDA_CHECK(cudaMemcpy(p, h.data(), h.size() * sizeof(__nv_bfloat16), cudaMemcpyHostToDevice));
  return static_cast<__nv_bfloat16*>(p);
}

Buffers make_buffers(const Shape& s, size_t l2_bytes, bool with_bf16, std::mt19937& rng) {
  const size_t na = size_t(s.m * s.k), nb = size_t(s.k * s.n), nc = size_t(s.m * s.n);
  const size_t set_bytes = (na + nb + nc) * sizeof(float);
  const int sets = ng::bench::rotation_sets(set_bytes, l2_bytes, 32);
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
    if (with_bf16) buf.a16.push_back(device_bf16(ha)), buf.b16.push_back(device_bf16(hb));
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
    NG_CUBLAS_CHECK(cublasSgemm(h, op_b, op_a, n, m, k, &alpha, b, ldb, a, lda, &beta, c, n));
    return;
  }
  const cublasComputeType_t compute =
      math == GemmMath::tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F_FAST_16BF;
  NG_CUBLAS_CHECK(cublasGemmEx(h, op_b, op_a, n, m, k, &alpha, b, CUDA_R_32F, ldb, a, CUDA_R_32F, lda, &beta, c,
                            CUDA_R_32F, n, compute, CUBLAS_GEMM_DEFAULT));
}

// cuBLAS on inputs already stored in bf16, fp32 accumulation and output.
void run_cublas_native_bf16(cublasHandle_t h, const Shape& s, const __nv_bfloat16* a, const __nv_bfloat16* b,
                            float* c) {
  const float alpha = 1.f, beta = 0.f;
  const cublasOperation_t op_a = s.ta ? CUBLAS_OP_T : CUBLAS_OP_N, op_b = s.tb ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int m = int(s.m), n = int(s.n), k = int(s.k), lda = int(lda_of(s)), ldb = int(ldb_of(s));
  NG_CUBLAS_CHECK(cublasGemmEx(h, op_b, op_a, n, m, k, &alpha, b, CUDA_R_16BF, ldb, a, CUDA_R_16BF, lda, &beta, c,
                               CUDA_R_32F, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Our GEMM kernels against cuBLAS at the same precision"};
  std::string precision = "all";
  bool quick = false, list = false;
  app.add_option("--precision", precision, "fp32, tf32, bf16 or all")->check(CLI::IsMember({"fp32", "tf32", "bf16", "all"}));
  app.add_flag("--quick", quick, "skip 8192^3 and take fewer samples");
  app.add_flag("--list", list, "print the rows this would measure and exit (no GPU needed)");
  CLI11_PARSE(app, argc, argv);

  std::vector<GemmMath> maths;
  for (GemmMath m : {GemmMath::fp32, GemmMath::tf32, GemmMath::bf16})
    if (precision == "all" || precision == name_of(m)) maths.push_back(m);
  const std::vector<Shape> cases = shapes(quick);
  const auto label = [](const Shape& s) {
    return s.name + " " + std::to_string(s.m) + "x" + std::to_string(s.n) + "x" + std::to_string(s.k) + " " +
           (s.ta ? "T" : "N") + (s.tb ? "T" : "N");
  };
  if (list) {
    for (const Shape& s : cases)
      for (GemmMath m : maths) {
        std::printf("%-52s %s vs cuBLAS %s\n", label(s).c_str(), name_of(m), name_of(m));
        if (m == GemmMath::bf16) std::printf("%-52s %s vs cuBLAS native bf16 inputs\n", label(s).c_str(), name_of(m));
      }
    return 0;
  }
  const int samples = quick ? 5 : 11;

  try {
    const ng::bench::DeviceFacts device = ng::bench::device_facts();
    cudaStream_t stream;
    NG_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    cublasHandle_t handle;
    NG_CUBLAS_CHECK(cublasCreate(&handle));
    const ng::bench::Ceilings ceilings = ng::bench::measure_ceilings(stream, handle);
    NG_CUBLAS_CHECK(cublasSetStream(handle, stream));
    NG_CUBLAS_CHECK(cublasSetMathMode(handle, CUBLAS_DEFAULT_MATH));  // fp32 Sgemm stays fp32 (no TF32)
    ng::bench::print_preamble("bench_cuda_matmul: our GEMMs against cuBLAS at the same precision", device, ceilings,
                              samples);
    ng::bench::Table table("matrix products, float32 inputs and outputs in device memory", ceilings);
    table.print_header();

    size_t ws_bytes = 0;
    for (const Shape& s : cases)
      for (GemmMath m : maths) ws_bytes = std::max(ws_bytes, our_workspace(s, m));
    void* ws = nullptr;
    if (ws_bytes) NG_CUDA_CHECK(cudaMalloc(&ws, ws_bytes));
    const bool with_bf16 = std::find(maths.begin(), maths.end(), GemmMath::bf16) != maths.end();

    std::mt19937 rng(1234);
    for (const Shape& s : cases) {
      Buffers buf = make_buffers(s, device.l2_bytes, with_bf16, rng);
      const int sets = int(buf.a.size());
      const size_t nc = size_t(s.m * s.n);
      float* check = device_floats(nc);
      for (GemmMath m : maths) {
        const auto ours = [&](int i) { run_ours(s, m, buf.a[size_t(i)], buf.b[size_t(i)], buf.c[size_t(i)], ws, ws_bytes, stream); };
        ng::bench::Row row;
        row.shape = label(s);
        row.pass = name_of(m);
        row.flops = 2.0 * double(s.m) * double(s.n) * double(s.k);
        row.bytes = double(s.m * s.k + s.k * s.n + nc) * sizeof(float);
        row.peak_tflops = m == GemmMath::fp32 ? ceilings.fp32_tflops
                          : m == GemmMath::tf32 ? ceilings.tf32_tflops
                                                : ceilings.bf16_tflops;
        table.set_tolerance(m == GemmMath::fp32 ? 1e-5 : m == GemmMath::tf32 ? 2e-3 : 2e-2);
        // Validate: ours against cuBLAS on the same inputs.
        ours(0);
        run_cublas(handle, s, m, buf.a[0], buf.b[0], check);
        NG_CUDA_CHECK(cudaStreamSynchronize(stream));
        row.error = relative_difference(buf.c[0], check, nc);
        row.theirs = std::string("cuBLAS ") + name_of(m);
        table.print(row, ng::bench::race(stream, sets, samples, ours, [&](int i) {
          run_cublas(handle, s, m, buf.a[size_t(i)], buf.b[size_t(i)], buf.c[size_t(i)]);
        }));
        if (m != GemmMath::bf16) continue;
        ours(0);  // the race left cuBLAS's result in c[0]
        run_cublas_native_bf16(handle, s, buf.a16[0], buf.b16[0], check);
        NG_CUDA_CHECK(cudaStreamSynchronize(stream));
        row.error = relative_difference(buf.c[0], check, nc);
        row.theirs = "cuBLAS native bf16 inputs";
        table.print(row, ng::bench::race(stream, sets, samples, ours, [&](int i) {
          run_cublas_native_bf16(handle, s, buf.a16[size_t(i)], buf.b16[size_t(i)], buf.c[size_t(i)]);
        }));
      }
      NG_CUDA_CHECK(cudaFree(check));
      buf.free_all();
    }
    table.print_footer();
    std::printf("targets: fp32 ratio <= 1.25 at 4096^3 (80%% of cuBLAS), tf32 / bf16 <= 1.43 (70%%)\n");
    if (ws) cudaFree(ws);
    NG_CUBLAS_CHECK(cublasDestroy(handle));
    NG_CUDA_CHECK(cudaStreamDestroy(stream));
    return table.all_valid() ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_cuda_matmul: %s\n", e.what());
    return 1;
  }
}
