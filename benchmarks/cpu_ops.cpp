// The U-Net's hot CPU ops, side by side with PyTorch (benchmarks/pytorch/cpu_ops.py)
// on the same machine: a 3x3 convolution, group norm and SiLU at the U-Net's
// largest activation shape, each timed forward and backward as
// y = op(x); sum(y * r).backward(), the median of --repeats runs after two
// warm-ups.
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

  Generator gen(0);
  const Tensor x = randn({64, 64, 28, 28}, gen).requires_grad_(), r = randn({64, 64, 28, 28}, gen);
  const Tensor w = ones({64}).requires_grad_(), b = zeros({64}).requires_grad_();
  const Tensor cw = (randn({64, 64, 3, 3}, gen) * 0.04).requires_grad_(), cb = zeros({64}).requires_grad_();
  const std::vector<std::pair<std::string, std::function<Tensor(const Tensor&)>>> ops = {
      {"conv3x3", [&](const Tensor& t) { return conv2d(t, cw, cb, 1, 1); }},
      {"group_norm", [&](const Tensor& t) { return group_norm(t, 8, w, b); }},
      {"silu", [](const Tensor& t) { return silu(t); }},
  };
  std::map<std::string, double> ours;
  for (const auto& [name, op] : ops)
    ours[name] = median_ms(
        [&, &f = op] {
          sum(f(x) * r).backward();
          for (Tensor t : {x, w, b, cw, cb}) t.zero_grad();
        },
        repeats);
  const std::map<std::string, double> theirs = no_pytorch ? std::map<std::string, double>{}
                                                          : pytorch_ms(python, threads, repeats);
  std::printf("op (forward + backward, [64,64,28,28], %d threads)   nanogen ms   pytorch ms   ratio\n", threads);
  for (const auto& [name, op] : ops) {
    const auto it = theirs.find(name);
    const double t = it == theirs.end() ? -1 : it->second;
    std::printf("%-48s %10.2f %12.2f %7.2f\n", name.c_str(), ours[name], t, t > 0 ? ours[name] / t : 0.0);
  }
}
