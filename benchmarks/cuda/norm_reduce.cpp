// Bandwidth of the memory-bound kernels (reductions, softmax, batch and group
// norm) against the bandwidth of a device-to-device copy measured in the same
// run: a kernel that must read and write B bytes can at best take as long as
// copying them, so "ratio" is the fraction of the achievable bandwidth.
//
//   build/bin/bench_cuda_norm_reduce [--reps 50]
//
// Each case is validated against the CPU twin first, warmed up, then timed
// with CUDA events (median of --reps runs), its inputs rotated among copies
// that together exceed the 50 MB L2 so the timing sees DRAM, not cache.
// "min MB" counts each input read once and each output written once; ours
// may move more (the norm kernels re-read x: see docs/kernels.md).
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "engine/cpu/norm.h"
#include "engine/cpu/reduce.h"
#include "engine/cpu/softmax.h"
#include "engine/cuda/backend.h"
#include "engine/cuda/runtime.h"
#include "engine/nanogen.h"
#include "kernels/cuda_check.h"

using namespace ng;

namespace {

constexpr double kL2Bytes = 50e6;
int g_reps = 50;

const Device kGpu = Device::cuda(0);

Tensor gpu_uniform(const Shape& shape, uint64_t seed, double lo = -1, double hi = 1) {
  Generator gen(seed);
  return (rand(shape, gen) * (hi - lo) + lo).to(kGpu);
}

// Median milliseconds of f(rotation) over g_reps runs, each timed by events.
double median_ms(const std::function<void(int)>& f, int rotations) {
  const cudaStream_t s = cuda::stream(0);
  cudaEvent_t start, stop;
  NG_CUDA_CHECK(cudaEventCreate(&start));
  NG_CUDA_CHECK(cudaEventCreate(&stop));
  for (int i = 0; i < 3; ++i) f(i % rotations);  // warm-up: caching allocator, module load
  std::vector<double> ms;
  for (int i = 0; i < g_reps; ++i) {
    NG_CUDA_CHECK(cudaEventRecord(start, s));
    f(i % rotations);
    NG_CUDA_CHECK(cudaEventRecord(stop, s));
    NG_CUDA_CHECK(cudaEventSynchronize(stop));
    float t = 0;
    NG_CUDA_CHECK(cudaEventElapsedTime(&t, start, stop));
    ms.push_back(t);
  }
  NG_CUDA_CHECK(cudaEventDestroy(start));
  NG_CUDA_CHECK(cudaEventDestroy(stop));
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

// How many copies of an input of `bytes` to rotate through to defeat L2.
int rotations_for(double bytes) { return int(std::clamp(std::ceil(2 * kL2Bytes / bytes), 1.0, 64.0)); }

struct Row {
  std::string name, shape;
  double ms, min_bytes;
};
std::vector<Row> rows;

void report(const std::string& name, const Shape& shape, double ms, double min_bytes) {
  rows.push_back({name, shape_str(shape), ms, min_bytes});
  std::fprintf(stderr, "  %-28s %-18s %8.4f ms\n", name.c_str(), shape_str(shape).c_str(), ms);
}

// Largest |gpu - cpu| relative to max |cpu|; exits when over `tol`.
void validate(const char* what, const Tensor& gpu, const Tensor& cpu, double tol) {
  const std::vector<double> a = gpu.to(Device::cpu()).to(DType::f64).contiguous().to_vector<double>();
  const std::vector<double> b = cpu.to(DType::f64).contiguous().to_vector<double>();
  double err = 0, scale = 1e-30;
  for (size_t i = 0; i < a.size(); ++i) {
    err = std::max(err, std::isnan(a[i]) ? INFINITY : std::abs(a[i] - b[i]));
    scale = std::max(scale, std::abs(b[i]));
  }
  std::fprintf(stderr, "  check %-36s max error %.2e of max |value| %.3g\n", what, err, scale);
  if (!(err <= tol * scale)) {
    std::fprintf(stderr, "validation failed: %s\n", what);
    std::exit(1);
  }
}

double copy_bandwidth_gbs() {
  const size_t bytes = size_t(1) << 28;  // 256 MiB each way
  void *a = nullptr, *b = nullptr;
  NG_CUDA_CHECK(cudaMalloc(&a, bytes));
  NG_CUDA_CHECK(cudaMalloc(&b, bytes));
  NG_CUDA_CHECK(cudaMemset(a, 1, bytes));
  const cudaStream_t s = cuda::stream(0);
  const double ms = median_ms(
      [&](int) { NG_CUDA_CHECK(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, s)); }, 1);
  NG_CUDA_CHECK(cudaFree(a));
  NG_CUDA_CHECK(cudaFree(b));
  return 2.0 * double(bytes) / (ms * 1e-3) / 1e9;  // read + write
}

Shape keepdim(const Shape& s, const std::vector<bool>& mask) {
  Shape k = s;
  for (size_t d = 0; d < k.size(); ++d)
    if (mask[d]) k[d] = 1;
  return k;
}

void bench_sum(const std::string& name, const Shape& shape, const std::vector<bool>& mask) {
  const double in_bytes = double(shape_numel(shape)) * 4;
  const int rot = rotations_for(in_bytes);
  std::vector<Tensor> xs;
  for (int r = 0; r < rot; ++r) xs.push_back(gpu_uniform(shape, 10 + r));
  const Shape k = keepdim(shape, mask);
  Tensor out = empty(k, TensorOptions{}.with_device(kGpu)), want = empty(k);
  cuda::reduce(cpu::Reduce::sum, out, xs[0], mask);
  cpu::reduce(cpu::Reduce::sum, want, xs[0].to(Device::cpu()), mask);
  validate(name.c_str(), out, want, 1e-6);
  const double ms = median_ms([&](int r) { cuda::reduce(cpu::Reduce::sum, out, xs[size_t(r)], mask); }, rot);
  report(name, shape, ms, in_bytes + double(shape_numel(k)) * 4);
}

void bench_softmax(const Shape& shape) {
  const cpu::SoftmaxLayout l{shape[0] * shape[1], shape[2], 1};
  const double bytes = double(shape_numel(shape)) * 4;
  const int rot = rotations_for(2 * bytes);
  std::vector<Tensor> xs, gs;
  for (int r = 0; r < rot; ++r) {
    xs.push_back(gpu_uniform(shape, 20 + r, -4, 4));
    gs.push_back(gpu_uniform(shape, 40 + r));
  }
  const TensorOptions o = TensorOptions{}.with_device(kGpu);
  Tensor y = empty(shape, o), gx = empty(shape, o), y_cpu = empty(shape), gx_cpu = empty(shape);
  cuda::softmax_forward(l, xs[0], y, false);
  cpu::softmax_forward(l, xs[0].to(Device::cpu()), y_cpu, false);
  validate("softmax forward", y, y_cpu, 1e-5);
  cuda::softmax_backward(l, gs[0], y, gx, false);
  cpu::softmax_backward(l, gs[0].to(Device::cpu()), y_cpu, gx_cpu, false);
  validate("softmax backward", gx, gx_cpu, 1e-5);
  report("softmax fwd (dim -1)", shape,
         median_ms([&](int r) { cuda::softmax_forward(l, xs[size_t(r)], y, false); }, rot), 2 * bytes);
  report("softmax bwd (dim -1)", shape,
         median_ms([&](int r) { cuda::softmax_backward(l, gs[size_t(r)], y, gx, false); }, rot), 3 * bytes);
}

void bench_norm(const std::string& name, const Shape& shape, int64_t groups, bool batch) {
  const int64_t N = shape[0], C = shape[1], S = shape_numel(shape) / (N * C);
  const cpu::NormLayout l{N, C, S, batch ? C : groups, !batch};
  const double bytes = double(shape_numel(shape)) * 4;
  const int rot = rotations_for(2 * bytes);
  std::vector<Tensor> xs, gys;
  for (int r = 0; r < rot; ++r) {
    xs.push_back(gpu_uniform(shape, 60 + r, -1, 3));
    gys.push_back(gpu_uniform(shape, 80 + r));
  }
  const TensorOptions o = TensorOptions{}.with_device(kGpu);
  const Tensor w = gpu_uniform({C}, 1, 0.5, 1.5), b = gpu_uniform({C}, 2);
  Tensor y = empty(shape, o), mean = empty({l.num_stats()}, o), rstd = empty({l.num_stats()}, o);
  Tensor gx = empty(shape, o), gw = empty({C}, o), gb = empty({C}, o);

  // Validate forward and backward against the CPU twin.
  const Tensor x_cpu = xs[0].to(Device::cpu()), gy_cpu = gys[0].to(Device::cpu());
  const Tensor w_cpu = w.to(Device::cpu()), b_cpu = b.to(Device::cpu());
  Tensor y_cpu = empty(shape), m_cpu = empty({l.num_stats()}), r_cpu = empty({l.num_stats()});
  Tensor gx_cpu = empty(shape), gw_cpu = empty({C}), gb_cpu = empty({C});
  cuda::norm_forward(l, xs[0], w, b, 1e-5, y, mean, rstd, Tensor());
  cpu::norm_forward(l, x_cpu, w_cpu, b_cpu, 1e-5, y_cpu, m_cpu, r_cpu, Tensor());
  validate((name + " forward").c_str(), y, y_cpu, 1e-5);
  cuda::norm_backward(l, gys[0], xs[0], m_cpu.to(kGpu), r_cpu.to(kGpu), w, gx, gw, gb);
  cpu::norm_backward(l, gy_cpu, x_cpu, m_cpu, r_cpu, w_cpu, gx_cpu, gw_cpu, gb_cpu);
  validate((name + " backward gx").c_str(), gx, gx_cpu, 1e-5);
  validate((name + " backward gw").c_str(), gw, gw_cpu, 1e-6);

  report(name + " fwd", shape,
         median_ms([&](int r) { cuda::norm_forward(l, xs[size_t(r)], w, b, 1e-5, y, mean, rstd, Tensor()); }, rot),
         2 * bytes);
  report(name + " bwd", shape,
         median_ms([&](int r) { cuda::norm_backward(l, gys[size_t(r)], xs[size_t(r)], mean, rstd, w, gx, gw, gb); },
                   rot),
         3 * bytes);
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; ++i)
    if (!std::strcmp(argv[i], "--reps")) g_reps = std::max(1, std::atoi(argv[i + 1]));
  if (!cuda_available()) {
    std::fprintf(stderr, "bench_cuda_norm_reduce: no GPU is visible\n");
    return 1;
  }
  const double copy_gbs = copy_bandwidth_gbs();
  std::fprintf(stderr, "device-to-device copy: %.0f GB/s (read + write)\n", copy_gbs);

  bench_sum("sum over the last dim", {128, 64, 28, 28}, {false, false, false, true});
  bench_sum("sum over dims {0,2,3}", {128, 64, 28, 28}, {true, false, true, true});
  bench_sum("sum of everything", {128, 64, 28, 28}, {true, true, true, true});
  bench_softmax({128 * 4, 49, 49});
  bench_norm("group_norm(8)", {128, 64, 28, 28}, 8, false);  // the U-Net's levels
  bench_norm("group_norm(8)", {128, 128, 14, 14}, 8, false);
  bench_norm("group_norm(8)", {128, 128, 7, 7}, 8, false);
  bench_norm("batch_norm", {128, 6272}, 0, true);  // the DCGAN's: after Linear(64, 6272)
  bench_norm("batch_norm", {128, 64, 14, 14}, 0, true);
  bench_norm("batch_norm", {128, 128, 7, 7}, 0, true);

  std::printf("%-26s %-18s %10s %10s %10s %10s %7s\n", "kernel", "shape", "ours ms", "min MB", "ours GB/s",
              "copy GB/s", "ratio");
  for (const Row& r : rows) {
    const double gbs = r.min_bytes / (r.ms * 1e-3) / 1e9;
    std::printf("%-26s %-18s %10.4f %10.2f %10.0f %10.0f %7.2f\n", r.name.c_str(), r.shape.c_str(), r.ms,
                r.min_bytes / 1e6, gbs, copy_gbs, gbs / copy_gbs);
  }
  return 0;
}
