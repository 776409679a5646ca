// Median training-step time of nanogen's models, side by side with their
// PyTorch twins (benchmarks/pytorch/*.py) run on the same machine.
//
//   build/bin/bench_train_step [--batch 64] [--threads 2] [--steps 30] [--device cpu] [--no-pytorch]
//
// A step is: forward, loss, backward, Adam update, on a fixed random batch.
#include <omp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "engine/nanogen.h"
#include "engine/optim/optimizer.h"
#include "models/vae.h"

using namespace ng;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double time_vae(int64_t batch, int steps, Device device) {
  manual_seed(0);
  models::VAE model{models::VAEConfig{}};
  model.to(device);
  optim::Adam opt(model.named_parameters(), {.lr = 1e-3});
  Generator gen(1);
  const Tensor x = rand({batch, 1, 28, 28}, gen, TensorOptions{}.with_device(device));
  std::vector<double> ms;
  for (int i = 0; i < steps + 5; ++i) {
    const Tensor eps = randn({batch, 16}, gen, TensorOptions{}.with_device(device));
    const auto t0 = std::chrono::steady_clock::now();
    const models::ELBOTerms t = model.loss(x, eps);
    opt.zero_grad();
    t.loss.backward();
    opt.step();
    (void)t.loss.item();  // waits for the device
    const double dt = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (i >= 5) ms.push_back(dt);
  }
  return median(ms);
}

// Runs the PyTorch twin's --bench and reads the median it prints.
double time_pytorch(const std::string& script, int64_t batch, int threads, int steps, const std::string& device) {
  const std::string cmd = "python3 " + script + " --bench --batch " + std::to_string(batch) + " --threads " +
                          std::to_string(threads) + " --steps " + std::to_string(steps) + " --device " + device +
                          " 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return -1;
  char line[512];
  double ms = -1;
  while (std::fgets(line, sizeof line, p)) {
    const char* m = std::strstr(line, "median ");
    if (m) ms = std::atof(m + 7);
  }
  pclose(p);
  return ms;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"training-step time of nanogen's models against their PyTorch twins"};
  int64_t batch = 64;
  int threads = 2, steps = 30;
  std::string device = "cpu";
  bool no_pytorch = false;
  app.add_option("--batch", batch)->capture_default_str();
  app.add_option("--threads", threads)->capture_default_str();
  app.add_option("--steps", steps)->capture_default_str();
  app.add_option("--device", device)->capture_default_str();
  app.add_flag("--no-pytorch", no_pytorch, "time nanogen only");
  CLI11_PARSE(app, argc, argv);
  omp_set_num_threads(threads);
  const Device dev = Device::parse(device);

  std::printf("%-6s %6s %8s %12s %12s %8s\n", "model", "batch", "threads", "nanogen ms", "pytorch ms", "ratio");
  const double ours = time_vae(batch, steps, dev);
  const double theirs = no_pytorch ? -1 : time_pytorch("benchmarks/pytorch/vae.py", batch, threads, steps, device);
  std::printf("%-6s %6lld %8d %12.2f %12.2f %8.2f\n", "vae", (long long)batch, threads, ours, theirs,
              theirs > 0 ? ours / theirs : 0.0);
  return 0;
}
