// The models' hot CPU ops, side by side with PyTorch (benchmarks/pytorch/cpu_ops.py)
// on the same machine: the U-Net's 3x3 convolutions at each of its main
// shapes, the GAN's 4x4 stride-2 convolution and BatchNorm1d, group norm and
// SiLU (apart, composed, and as the fused group_norm_silu, which PyTorch runs
// as the composite), each timed forward and backward as y = op(x); sum(y * r).backward(),
// the median of --repeats runs after two warm-ups. Batch 64 throughout.
//
//   build/bin/bench_cpu_ops [--threads 2] [--repeats 15] [--python /usr/bin/python3] [--no-pytorch]
#include <omp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "engine/nanogen.h"

using namespace ng;

namespace {

double median_ms(const std::function<void()>& step, int repeats) {
  std::vector<double> ms;
  for (int i = 0; i < repeats + 2; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    step();
    if (i >= 2) ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

// PyTorch's medians, by op name (empty when it could not run).
std::map<std::string, double> pytorch_ms(const std::string& python, int threads, int repeats) {
  std::map<std::string, double> out;
  const std::string cmd = python + " benchmarks/pytorch/cpu_ops.py --threads " + std::to_string(threads) +
                          " --repeats " + std::to_string(repeats);
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char line[256];
  while (std::fgets(line, sizeof line, p))
    if (const char* m = std::strstr(line, " median ")) out[std::string(line, size_t(m - line))] = std::atof(m + 8);
  pclose(p);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, repeats = 15;
  bool no_pytorch = false;
  std::string python = std::filesystem::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
  CLI::App app{"the U-Net's hot CPU ops against PyTorch's"};
  app.add_option("--threads", threads)->capture_default_str();
  app.add_option("--repeats", repeats)->capture_default_str();
  app.add_option("--python", python, "the Python with PyTorch")->capture_default_str();
  app.add_flag("--no-pytorch", no_pytorch, "time nanogen only");
  CLI11_PARSE(app, argc, argv);
  omp_set_num_threads(threads);

  // One op: its name (as the PyTorch twin prints it), its input's shape and
  // the op on that input (parameters made here, kept alive by the lambda).
  struct Op {
    std::string name;
    Shape shape;
    std::function<Tensor(const Tensor&)> f;
  };
  Generator gen(0);
  auto conv = [&](int64_t c_in, int64_t c_out, int64_t size, int64_t stride, int64_t size_in) {
    const Tensor cw = (randn({c_out, c_in, size, size}, gen) * 0.04).requires_grad_();
    const Tensor cb = zeros({c_out}).requires_grad_();
    const int64_t padding = 1;
    return Op{"conv" + std::to_string(size) + "x" + std::to_string(size) + (stride > 1 ? " s2 " : " ") +
                  std::to_string(c_in) + "->" + std::to_string(c_out) + " at " + std::to_string(size_in),
              Shape{64, c_in, size_in, size_in},
              [=](const Tensor& t) { return conv2d(t, cw, cb, stride, padding); }};
  };
  auto affine = [](int64_t c) { return std::pair{ones({c}).requires_grad_(), zeros({c}).requires_grad_()}; };
  const auto [gw, gb] = affine(64);
  const auto [gw2, gb2] = affine(128);
  const auto [bw, bb] = affine(6272);
  const std::vector<Op> ops = {
      conv(64, 64, 3, 1, 28),
      conv(192, 64, 3, 1, 28),
      conv(128, 128, 3, 1, 28),
      conv(128, 128, 3, 1, 14),
      conv(256, 128, 3, 1, 14),
      conv(128, 128, 3, 1, 7),
      conv(64, 128, 4, 2, 14),
      {"group_norm(8) 64 at 28", {64, 64, 28, 28}, [&](const Tensor& t) { return group_norm(t, 8, gw, gb); }},
      {"group_norm(8) 128 at 14", {64, 128, 14, 14}, [&](const Tensor& t) { return group_norm(t, 8, gw2, gb2); }},
      {"silu 64 at 28", {64, 64, 28, 28}, [](const Tensor& t) { return silu(t); }},
      {"silu(group_norm(8)) 64 at 28", {64, 64, 28, 28},
       [&](const Tensor& t) { return silu(group_norm(t, 8, gw, gb)); }},
      {"group_norm_silu(8) 64 at 28", {64, 64, 28, 28},
       [&](const Tensor& t) { return group_norm_silu(t, 8, gw, gb); }},
      {"batch_norm 6272", {64, 6272},
       [&](const Tensor& t) { return batch_norm(t, bw, bb, Tensor(), Tensor(), true); }},
  };
  std::map<std::string, double> ours;
  for (const Op& op : ops) {
    Tensor x = randn(op.shape, gen).requires_grad_();
    const Tensor r = randn(op.f(x).shape(), gen);
    ours[op.name] = median_ms(
        [&] {
          sum(op.f(x) * r).backward();
          x.zero_grad();
        },
        repeats);
  }
  const std::map<std::string, double> theirs = no_pytorch ? std::map<std::string, double>{}
                                                          : pytorch_ms(python, threads, repeats);
  std::printf("%-34s %10s %12s %7s\n", ("op (fwd + bwd, batch 64, " + std::to_string(threads) + " threads)").c_str(),
              "nanogen ms", "pytorch ms", "ratio");
  for (const Op& op : ops) {
    const auto it = theirs.find(op.name);
    const double t = it == theirs.end() ? -1 : it->second;
    std::printf("%-34s %10.2f %12.2f %7.2f\n", op.name.c_str(), ours[op.name], t, t > 0 ? ours[op.name] / t : 0.0);
  }
}
