// How every CUDA benchmark times a kernel against its reference and reports
// the row, so that a ratio means the same thing in every table:
//
// - Rotation: each side runs over several input sets that together exceed
//   twice the L2 cache (its size queried from the device), so a row measures
//   memory, not a warm cache.
// - Batches of launches: an event pair brackets at least 20 back-to-back
//   launches (more, until the pair spans 0.2 ms), never one launch after a
//   synchronisation, so microsecond kernels are not timed as launch latency.
// - Interleaving: ours, theirs, ours, theirs, ... and the ratio is the median
//   of the per-pair ratios, so clock and thermal drift cancel in it.
// - Ceilings measured in the same run: copy bandwidth (a device-to-device
//   copy, bytes read plus written) and the matrix rate of cuBLAS at 8192^3
//   for each math mode; a row's roofline share is its floor time
//   max(flops / rate, bytes / bandwidth) over its measured time.
#pragma once

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cuda_check.h"

namespace ng::bench {

#define NG_CUBLAS_CHECK(call)                                                                                   \
  do {                                                                                                          \
    const cublasStatus_t status_ = (call);                                                                      \
    if (status_ != CUBLAS_STATUS_SUCCESS)                                                                       \
      throw std::runtime_error(std::string(#call) + " failed with cuBLAS status " + std::to_string(int(status_))); \
  } while (0)

using Launch = std::function<void(int set)>;

struct DeviceFacts {
  std::string name;
  int sms = 0, driver = 0, runtime = 0;
  size_t l2_bytes = 0;
};

inline DeviceFacts device_facts() {
  int device = 0;
  NG_CUDA_CHECK(cudaGetDevice(&device));
  cudaDeviceProp prop{};
  NG_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  DeviceFacts f;
  f.name = prop.name;
  f.sms = prop.multiProcessorCount;
  f.l2_bytes = size_t(prop.l2CacheSize);
  NG_CUDA_CHECK(cudaDriverGetVersion(&f.driver));
  NG_CUDA_CHECK(cudaRuntimeGetVersion(&f.runtime));
  return f;
}

// How many input sets of `set_bytes` make one round exceed twice the L2.
inline int rotation_sets(size_t set_bytes, size_t l2_bytes, int max_sets = 64) {
  return int(std::clamp<size_t>(2 * l2_bytes / std::max<size_t>(set_bytes, 1) + 1, 1, size_t(max_sets)));
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? NAN : v[v.size() / 2];
}

// Event pairs around batches of launches, rotating over the sets.
class BatchTimer {
 public:
  explicit BatchTimer(cudaStream_t stream) : stream_(stream) {
    NG_CUDA_CHECK(cudaEventCreate(&start_));
    NG_CUDA_CHECK(cudaEventCreate(&stop_));
  }
  ~BatchTimer() {
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
  }
  BatchTimer(const BatchTimer&) = delete;
  BatchTimer& operator=(const BatchTimer&) = delete;

  // Milliseconds per launch of `count` back-to-back launches.
  double per_launch_ms(const Launch& run, int sets, int count) {
    NG_CUDA_CHECK(cudaEventRecord(start_, stream_));
    for (int i = 0; i < count; ++i) run(next_++ % sets);
    NG_CUDA_CHECK(cudaEventRecord(stop_, stream_));
    NG_CUDA_CHECK(cudaEventSynchronize(stop_));
    float ms = 0;
    NG_CUDA_CHECK(cudaEventElapsedTime(&ms, start_, stop_));
    return double(ms) / count;
  }

  // Launches per event pair: at least 20, and enough for 0.2 ms.
  int batch_size(const Launch& run, int sets) {
    for (int i = 0; i < sets; ++i) run(i);  // warm-up: module load, handles, every set once
    NG_CUDA_CHECK(cudaStreamSynchronize(stream_));
    const double ms = per_launch_ms(run, sets, 20);
    return int(std::clamp(std::ceil(0.2 / std::max(ms, 1e-6)), 20.0, 2000.0));
  }

 private:
  cudaStream_t stream_;
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
  int next_ = 0;
};

struct RaceResult {
  double ours_ms = NAN, theirs_ms = NAN;
  double ratio = NAN;  // ours / theirs, the median of the per-pair ratios: < 1 means ours is faster
};

inline RaceResult race(cudaStream_t stream, int sets, int samples, const Launch& ours, const Launch& theirs) {
  BatchTimer timer(stream);
  const int n_ours = timer.batch_size(ours, sets), n_theirs = timer.batch_size(theirs, sets);
  std::vector<double> a, b, r;
  for (int s = 0; s < samples; ++s) {
    a.push_back(timer.per_launch_ms(ours, sets, n_ours));
    b.push_back(timer.per_launch_ms(theirs, sets, n_theirs));
    r.push_back(a.back() / b.back());
  }
  return {median(a), median(b), median(r)};
}

// One side alone, by the same method (rows with no library to race).
inline double time_alone(cudaStream_t stream, int sets, int samples, const Launch& run) {
  BatchTimer timer(stream);
  const int n = timer.batch_size(run, sets);
  std::vector<double> t;
  for (int s = 0; s < samples; ++s) t.push_back(timer.per_launch_ms(run, sets, n));
  return median(t);
}

// The ceilings a row is measured against, from this run on this card.
struct Ceilings {
  double copy_gbs = NAN;  // device-to-device copy, bytes read plus written
  double fp32_tflops = NAN, tf32_tflops = NAN, bf16_tflops = NAN;  // cuBLAS at 8192^3
};

inline double measure_copy_gbs(cudaStream_t stream, size_t bytes = size_t(1) << 30) {
  void *src = nullptr, *dst = nullptr;
  NG_CUDA_CHECK(cudaMalloc(&src, bytes));
  NG_CUDA_CHECK(cudaMalloc(&dst, bytes));
  NG_CUDA_CHECK(cudaMemsetAsync(src, 1, bytes, stream));
  const double ms = time_alone(stream, 1, 7, [&](int) {
    NG_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream));
  });
  cudaFree(src);
  cudaFree(dst);
  return 2.0 * double(bytes) / (ms * 1e-3) / 1e9;
}

// cuBLAS's rate on a large square product of random data: fp32 (cublasSgemm,
// no TF32), TF32 (fp32 data, CUBLAS_COMPUTE_32F_FAST_TF32) and bf16 (bf16
// data, fp32 accumulation).
inline Ceilings measure_ceilings(cudaStream_t stream, cublasHandle_t handle) {
  Ceilings c;
  c.copy_gbs = measure_copy_gbs(stream);
  const int n = 8192;
  const size_t count = size_t(n) * n;
  const auto allocate = [](size_t bytes) {
    void* p = nullptr;
    NG_CUDA_CHECK(cudaMalloc(&p, bytes));
    return p;
  };
  auto* a = static_cast<float*>(allocate(count * sizeof(float)));
  auto* b = static_cast<float*>(allocate(count * sizeof(float)));
  auto* out = static_cast<float*>(allocate(count * sizeof(float)));
  auto* a16 = static_cast<__nv_bfloat16*>(allocate(count * sizeof(__nv_bfloat16)));
  auto* b16 = static_cast<__nv_bfloat16*>(allocate(count * sizeof(__nv_bfloat16)));
  {  // random data, never zeros: a product of zeros runs faster than real data
    std::vector<float> h(count);
    std::vector<__nv_bfloat16> h16(count);
    uint32_t x = 12345;
    for (size_t i = 0; i < count; ++i) {
      x = x * 1664525u + 1013904223u;
      h[i] = float(x >> 8) / float(1 << 24) - 0.5f;
      h16[i] = __float2bfloat16(h[i]);
    }
    NG_CUDA_CHECK(cudaMemcpy(a, h.data(), count * sizeof(float), cudaMemcpyHostToDevice));
    NG_CUDA_CHECK(cudaMemcpy(b, h.data(), count * sizeof(float), cudaMemcpyHostToDevice));
    NG_CUDA_CHECK(cudaMemcpy(a16, h16.data(), count * sizeof(__nv_bfloat16), cudaMemcpyHostToDevice));
    NG_CUDA_CHECK(cudaMemcpy(b16, h16.data(), count * sizeof(__nv_bfloat16), cudaMemcpyHostToDevice));
  }
  const float one = 1.f, zero = 0.f;
  const double flops = 2.0 * double(n) * n * n;
  const auto rate = [&](const Launch& run) { return flops / (time_alone(stream, 1, 5, run) * 1e-3) / 1e12; };
  NG_CUBLAS_CHECK(cublasSetStream(handle, stream));
  // Default math keeps cublasSgemm in fp32: TF32 needs CUBLAS_TF32_TENSOR_OP_MATH
  // or, as below, a TF32 compute type.
  NG_CUBLAS_CHECK(cublasSetMathMode(handle, CUBLAS_DEFAULT_MATH));
  c.fp32_tflops = rate([&](int) {
    NG_CUBLAS_CHECK(cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, a, n, b, n, &zero, out, n));
  });
  c.tf32_tflops = rate([&](int) {
    NG_CUBLAS_CHECK(cublasGemmEx(handle, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, a, CUDA_R_32F, n, b, CUDA_R_32F, n,
                                 &zero, out, CUDA_R_32F, n, CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_GEMM_DEFAULT));
  });
  c.bf16_tflops = rate([&](int) {
    NG_CUBLAS_CHECK(cublasGemmEx(handle, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, a16, CUDA_R_16BF, n, b16,
                                 CUDA_R_16BF, n, &zero, out, CUDA_R_32F, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  });
  for (void* p : {static_cast<void*>(a), static_cast<void*>(b), static_cast<void*>(out), static_cast<void*>(a16),
                  static_cast<void*>(b16)})
    cudaFree(p);
  return c;
}

inline void print_preamble(const char* what, const DeviceFacts& d, const Ceilings& c, int samples) {
  std::printf("%s\n", what);
  std::printf("device: %s, %d SMs, L2 %.0f MiB (queried); driver %d, runtime %d\n", d.name.c_str(), d.sms,
              double(d.l2_bytes) / 1048576.0, d.driver, d.runtime);
  std::printf("ceilings measured in this run: copy %.0f GB/s", c.copy_gbs);
  if (std::isfinite(c.fp32_tflops))
    std::printf("; cuBLAS 8192^3 fp32 %.1f, tf32 %.1f, bf16 %.1f TFLOP/s", c.fp32_tflops, c.tf32_tflops,
                c.bf16_tflops);
  std::printf("\n");
  std::printf("method: ours and theirs interleaved, >= 20 launches per event pair, inputs rotated over > 2x L2; "
              "median of %d pairs; ratio = ours / theirs (< 1: ours faster)\n\n",
              samples);
}

// One row of a table, printed as soon as it is measured (a run cut short by
// its timeout keeps the rows it finished).
struct Row {
  std::string shape, pass;
  std::string theirs;  // what we raced: "cuDNN fwd IMPLICIT_PRECOMP_GEMM fma", ...
  double flops = 0;    // 0 for memory-bound rows
  double bytes = 0;    // the fewest bytes the operation must move
  double peak_tflops = NAN;  // the rate ours is held to (its math mode's ceiling)
  bool effective = false;    // theirs does fewer FLOPs than counted (Winograd, FFT)
  double error = NAN;        // relative error of ours against theirs
};

class Table {
 public:
  Table(std::string title, const Ceilings& ceilings) : title_(std::move(title)), ceilings_(ceilings) {}

  const Ceilings& ceilings() const { return ceilings_; }

  void print_header() const {
    std::printf("## %s\n%-52s %-14s %10s %10s %6s %8s %8s %8s  %s\n", title_.c_str(), "shape", "pass", "ours us",
                "theirs us", "ratio", "ours TF", "theirs TF", "roofline", "rel err; theirs");
  }

  void print(const Row& row, const RaceResult& r) {
    const double floor_ms = std::max(row.flops > 0 ? row.flops / (row.peak_tflops * 1e9) : 0.0,
                                     row.bytes > 0 ? row.bytes / (ceilings_.copy_gbs * 1e6) : 0.0);
    const auto tflops = [&](double ms) { return row.flops > 0 ? row.flops / (ms * 1e9) : NAN; };
    std::printf("%-52s %-14s %10.2f %10.2f %6.2f %8.1f %8.1f%s %7.0f%%  %.1e; %s\n", row.shape.c_str(),
                row.pass.c_str(), r.ours_ms * 1e3, r.theirs_ms * 1e3, r.ratio, tflops(r.ours_ms),
                tflops(r.theirs_ms), row.effective ? "*" : " ", 100.0 * floor_ms / r.ours_ms, row.error,
                row.theirs.c_str());
    std::fflush(stdout);
    if (std::isfinite(r.ratio)) log_ratios_[row.pass].push_back(std::log(r.ratio));
    if (!(row.error <= tolerance_))
      failures_.push_back(row.shape + " " + row.pass + ": relative error " + std::to_string(row.error) + " above " +
                          std::to_string(tolerance_) + " (against " + row.theirs + ")");
  }

  // A row that could not be raced: printed, and it fails the run.
  void skip(const std::string& shape, const std::string& pass, const std::string& why) {
    std::printf("%-52s %-14s SKIPPED: %s\n", shape.c_str(), pass.c_str(), why.c_str());
    std::fflush(stdout);
    failures_.push_back(shape + " " + pass + ": " + why);
  }

  // Rows printed after this whose relative error against the reference is
  // above it (or NaN) fail the run.
  void set_tolerance(double tolerance) { tolerance_ = tolerance; }
  bool all_valid() const {
    for (const std::string& f : failures_) std::printf("FAILED %s\n", f.c_str());
    return failures_.empty();
  }

  void print_footer() const {
    std::printf("* effective TFLOP/s: theirs ran Winograd or FFT, fewer FLOPs than the direct count used here\n");
    std::printf("roofline: max(flops / ceiling of ours' math, bytes / copy bandwidth) over ours' time\n");
    for (const auto& [pass, logs] : log_ratios_) {
      double sum = 0;
      for (double l : logs) sum += l;
      std::printf("geometric mean ratio, %-16s %.2f over %zu rows\n", pass.c_str(), std::exp(sum / double(logs.size())),
                  logs.size());
    }
    std::printf("\n");
  }

 private:
  std::string title_;
  Ceilings ceilings_;
  std::map<std::string, std::vector<double>> log_ratios_;
  double tolerance_ = 1e-4;
  std::vector<std::string> failures_;
};

}  // namespace ng::bench
