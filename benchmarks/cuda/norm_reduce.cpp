// The memory-bound kernels (reductions, softmax, batch and group norm, the
// latter also fused with SiLU) raced
// against a device-to-device copy of the same number of bytes: a kernel that
// must read and write B bytes can at best take as long as copying them, so
// the ratio ours / copy is how far it is from the achievable bandwidth.
//
//   build/bin/bench_cuda_norm_reduce [--samples 15] [--list]
//
// Each case is validated against the CPU twin first, then raced (race.h:
// interleaved with the copy, at least 20 launches per event pair, inputs
// rotated over more than twice the L2 as the device reports it). "bytes"
// counts each input read once and each output written once; ours may move
// more (the norm kernels re-read x: see docs/kernels.md).
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
#include "race.h"

using namespace ng;

namespace {

size_t g_l2_bytes = 50 << 20;  // replaced by the device's own in main
int g_samples = 15;
bool g_list = false;
ng::bench::Table* g_table = nullptr;

const Device kGpu = Device::cuda(0);

Tensor gpu_uniform(const Shape& shape, uint64_t seed, double lo = -1, double hi = 1) {
  Generator gen(seed);
  return (rand(shape, gen) * (hi - lo) + lo).to(kGpu);
}

// How many copies of an input of `bytes` to rotate through to defeat L2.
int rotations_for(double bytes) { return ng::bench::rotation_sets(size_t(bytes), g_l2_bytes); }

// Races f(rotation) against a device-to-device copy of `min_bytes` (read plus
// written) and prints the row.
void race_and_report(const std::string& name, const Shape& shape, const std::function<void(int)>& f, int rotations,
                     double min_bytes) {
  // The copy rotates over as many buffer pairs as the kernel's inputs, so
  // both sides read from memory, not from the L2.
  const size_t half = size_t(min_bytes / 2) / 4 * 4;
  std::vector<void*> from(static_cast<size_t>(rotations)), to(static_cast<size_t>(rotations));
  for (int r = 0; r < rotations; ++r) {
    NG_CUDA_CHECK(cudaMalloc(&from[size_t(r)], half));
    NG_CUDA_CHECK(cudaMalloc(&to[size_t(r)], half));
    NG_CUDA_CHECK(cudaMemset(from[size_t(r)], 0x3f, half));
  }
  const cudaStream_t s = cuda::stream(0);
  const ng::bench::RaceResult r = ng::bench::race(s, rotations, g_samples, f, [&](int i) {
    NG_CUDA_CHECK(cudaMemcpyAsync(to[size_t(i)], from[size_t(i)], half, cudaMemcpyDeviceToDevice, s));
  });
  for (int i = 0; i < rotations; ++i) {
    NG_CUDA_CHECK(cudaFree(from[size_t(i)]));
    NG_CUDA_CHECK(cudaFree(to[size_t(i)]));
  }
  ng::bench::Row row;
  row.shape = shape_str(shape);
  row.pass = name;
  row.theirs = "D2D copy of the same bytes";
  row.bytes = min_bytes;
  row.error = 0;  // validated against the CPU twin before the race
  g_table->print(row, r);
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
  cuda::reduce(kernels::ReduceOp::sum, out, xs[0], mask);
  cpu::reduce(kernels::ReduceOp::sum, want, xs[0].to(Device::cpu()), mask);
  validate(name.c_str(), out, want, 1e-6);
  race_and_report(name, shape, [&](int r) { cuda::reduce(kernels::ReduceOp::sum, out, xs[size_t(r)], mask); }, rot,
                  in_bytes + double(shape_numel(k)) * 4);
}

void bench_softmax(const Shape& shape) {
  const kernels::SoftmaxLayout l{shape[0] * shape[1], shape[2], 1};
  const double bytes = double(shape_numel(shape)) * 4;
  const int rot = rotations_for(bytes);  // one input set is `bytes`; the output stays
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
  race_and_report("softmax fwd (dim -1)", shape, [&](int r) { cuda::softmax_forward(l, xs[size_t(r)], y, false); },
                  rot, 2 * bytes);
  race_and_report("softmax bwd (dim -1)", shape,
                  [&](int r) { cuda::softmax_backward(l, gs[size_t(r)], y, gx, false); }, rot, 3 * bytes);
}

// With the SiLU epilogue (the fused group_norm_silu), the backward is the
// epilogue's gradient (gy recomputed from x) and then the norm's.
void bench_norm(const std::string& name, const Shape& shape, int64_t groups, bool batch,
                kernels::NormEpilogue epilogue = kernels::NormEpilogue::none) {
  const int64_t N = shape[0], C = shape[1], S = shape_numel(shape) / (N * C);
  const kernels::NormLayout l{N, C, S, batch ? C : groups, !batch};
  const bool silu = epilogue == kernels::NormEpilogue::silu;
  const double bytes = double(shape_numel(shape)) * 4;
  const int rot = rotations_for(bytes);  // one input set is `bytes`; the output stays
  std::vector<Tensor> xs, gys;
  for (int r = 0; r < rot; ++r) {
    xs.push_back(gpu_uniform(shape, 60 + r, -1, 3));
    gys.push_back(gpu_uniform(shape, 80 + r));
  }
  const TensorOptions o = TensorOptions{}.with_device(kGpu);
  const Tensor w = gpu_uniform({C}, 1, 0.5, 1.5), b = gpu_uniform({C}, 2);
  Tensor y = empty(shape, o), mean = empty({l.num_stats()}, o), rstd = empty({l.num_stats()}, o);
  Tensor gx = empty(shape, o), gw = empty({C}, o), gb = empty({C}, o), g_norm = silu ? empty(shape, o) : Tensor();
  // The backward on the GPU: through the epilogue's gradient when there is one.
  auto backward = [&](const Tensor& gz, const Tensor& x, const Tensor& m, const Tensor& rs) {
    if (silu) cuda::norm_silu_grad(l, gz, x, w, b, m, rs, g_norm);
    cuda::norm_backward(l, silu ? g_norm : gz, x, m, rs, w, gx, gw, gb);
  };

  // Validate forward and backward against the CPU twin.
  const Tensor x_cpu = xs[0].to(Device::cpu()), gy_cpu = gys[0].to(Device::cpu());
  const Tensor w_cpu = w.to(Device::cpu()), b_cpu = b.to(Device::cpu());
  Tensor y_cpu = empty(shape), m_cpu = empty({l.num_stats()}), r_cpu = empty({l.num_stats()});
  Tensor gx_cpu = empty(shape), gw_cpu = empty({C}), gb_cpu = empty({C}), g_norm_cpu = empty(shape);
  cuda::norm_forward(l, xs[0], w, b, 1e-5, y, mean, rstd, Tensor(), epilogue);
  cpu::norm_forward(l, x_cpu, w_cpu, b_cpu, 1e-5, y_cpu, m_cpu, r_cpu, Tensor(), epilogue);
  validate((name + " forward").c_str(), y, y_cpu, 1e-5);
  backward(gys[0], xs[0], m_cpu.to(kGpu), r_cpu.to(kGpu));
  if (silu) cpu::norm_silu_grad(l, gy_cpu, x_cpu, w_cpu, b_cpu, m_cpu, r_cpu, g_norm_cpu);
  cpu::norm_backward(l, silu ? g_norm_cpu : gy_cpu, x_cpu, m_cpu, r_cpu, w_cpu, gx_cpu, gw_cpu, gb_cpu);
  validate((name + " backward gx").c_str(), gx, gx_cpu, 1e-5);
  validate((name + " backward gw").c_str(), gw, gw_cpu, 1e-6);

  race_and_report(
      name + " fwd", shape,
      [&](int r) { cuda::norm_forward(l, xs[size_t(r)], w, b, 1e-5, y, mean, rstd, Tensor(), epilogue); }, rot,
      2 * bytes);
  race_and_report(
      name + " bwd", shape, [&](int r) { backward(gys[size_t(r)], xs[size_t(r)], mean, rstd); }, rot, 3 * bytes);
}

}  // namespace

// The cases, in the order they run.
const struct Case {
  const char* kind;  // sum, softmax, group_norm, group_norm_silu, batch_norm
  const char* name;
  Shape shape;
  std::vector<bool> mask;  // sum only
} kCases[] = {
    {"sum", "sum over the last dim", {128, 64, 28, 28}, {false, false, false, true}},
    {"sum", "sum over dims {0,2,3}", {128, 64, 28, 28}, {true, false, true, true}},
    {"sum", "sum of everything", {128, 64, 28, 28}, {true, true, true, true}},
    {"softmax", "softmax", {128, 49, 49}, {}},
    {"group_norm", "group_norm(8)", {128, 64, 28, 28}, {}},  // the U-Net's levels
    {"group_norm", "group_norm(8)", {128, 128, 14, 14}, {}},
    {"group_norm", "group_norm(8)", {128, 128, 7, 7}, {}},
    {"group_norm_silu", "group_norm(8)+silu", {128, 64, 28, 28}, {}},  // fused: the U-Net's path
    {"group_norm_silu", "group_norm(8)+silu", {128, 128, 14, 14}, {}},
    {"batch_norm", "batch_norm", {128, 6272}, {}},  // the DCGAN's: after Linear(64, 6272)
    {"batch_norm", "batch_norm", {128, 64, 14, 14}, {}},
    {"batch_norm", "batch_norm", {128, 128, 7, 7}, {}},
};

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--samples") && i + 1 < argc) {
      g_samples = std::atoi(argv[++i]);
      if (g_samples < 1) {
        std::fprintf(stderr, "bench_cuda_norm_reduce: --samples must be at least 1\n");
        return 2;
      }
    } else if (!std::strcmp(argv[i], "--list")) {
      g_list = true;
    } else {
      std::fprintf(stderr, "bench_cuda_norm_reduce: unknown argument '%s' (expected --samples N or --list)\n", argv[i]);
      return 2;
    }
  }
  if (g_list) {
    for (const Case& c : kCases) std::printf("%-24s %-18s vs a D2D copy of the same bytes\n", c.name, shape_str(c.shape).c_str());
    return 0;
  }
  if (!cuda_available()) {
    std::fprintf(stderr, "bench_cuda_norm_reduce: no GPU is visible\n");
    return 1;
  }
  try {
    const ng::bench::DeviceFacts device = ng::bench::device_facts();
    g_l2_bytes = device.l2_bytes;
    ng::bench::Ceilings ceilings;
    ceilings.copy_gbs = ng::bench::measure_copy_gbs(cuda::stream(0));
    ng::bench::print_preamble("bench_cuda_norm_reduce: memory-bound kernels against a copy of the same bytes", device,
                              ceilings, g_samples);
    ng::bench::Table table("reductions, softmax and norms, float32", ceilings);
    g_table = &table;
    table.print_header();
    for (const Case& c : kCases) {
      const std::string kind = c.kind;
      if (kind == "sum") bench_sum(c.name, c.shape, c.mask);
      if (kind == "softmax") bench_softmax(c.shape);
      if (kind == "group_norm") bench_norm(c.name, c.shape, 8, false);
      if (kind == "group_norm_silu") bench_norm(c.name, c.shape, 8, false, kernels::NormEpilogue::silu);
      if (kind == "batch_norm") bench_norm(c.name, c.shape, 0, true);
    }
    table.print_footer();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_cuda_norm_reduce: %s\n", e.what());
    return 1;
  }
  return 0;
}
