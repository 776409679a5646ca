// Median training-step time of nanogen's models, side by side with their
// PyTorch twins (benchmarks/pytorch/*.py) run on the same machine.
//
//   build/bin/bench_train_step [--batch 64] [--threads 2] [--steps 30] [--device cpu] [--no-pytorch]
//                              [--models vae,ddpm]
//
// A step is: forward, loss, backward, Adam update, on a fixed random batch.
#include <omp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "engine/nanogen.h"
#include "engine/optim/optimizer.h"
#include "models/diffusion.h"
#include "models/unet.h"
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

// The canonical U-Net: t and eps drawn, q_sample, L_simple, backward, Adam.
double time_ddpm(int64_t batch, int steps, Device device) {
  manual_seed(0);
  models::UNet model{models::UNetConfig{}};
  model.to(device);
  const models::Diffusion diffusion;
  const models::EpsPredictor net = [&](const Tensor& x, const std::vector<int64_t>& t) { return model.forward(x, t); };
  optim::Adam opt(model.named_parameters(), {.lr = 2e-4});
  Generator gen(1);
  const TensorOptions on = TensorOptions{}.with_device(device);
  const Tensor x0 = rand({batch, 1, 28, 28}, gen, on) * 2.0 - 1.0;
  std::vector<double> ms;
  for (int i = 0; i < steps + 3; ++i) {
    const std::vector<int64_t> t = diffusion.sample_timesteps(batch, gen);
    const Tensor eps = randn({batch, 1, 28, 28}, gen, on);
    const auto t0 = std::chrono::steady_clock::now();
    const Tensor loss = diffusion.loss(net, x0, t, eps);
    opt.zero_grad();
    loss.backward();
    opt.step();
    (void)loss.item();  // waits for the device
    const double dt = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (i >= 3) ms.push_back(dt);
  }
  return median(ms);
}

// The Python with PyTorch: $NANOGEN_PYTHON, else Debian's /usr/bin/python3
// (a python3 earlier on PATH, e.g. pyenv's, may lack torch).
std::string python() {
  if (const char* p = std::getenv("NANOGEN_PYTHON")) return p;
  return std::filesystem::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
}

// Runs the PyTorch twin's --bench and reads the median it prints.
double time_pytorch(const std::string& script, int64_t batch, int threads, int steps, const std::string& device) {
  const std::string cmd = python() + " " + script + " --bench --batch " + std::to_string(batch) + " --threads " +
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
  std::string device = "cpu", models = "vae,ddpm";
  bool no_pytorch = false;
  app.add_option("--batch", batch)->capture_default_str();
  app.add_option("--threads", threads)->capture_default_str();
  app.add_option("--steps", steps)->capture_default_str();
  app.add_option("--device", device)->capture_default_str();
  app.add_flag("--no-pytorch", no_pytorch, "time nanogen only");
  app.add_option("--models", models, "which models, comma-separated: vae, ddpm")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  omp_set_num_threads(threads);
  const Device dev = Device::parse(device);

  std::printf("%-6s %6s %8s %12s %12s %8s\n", "model", "batch", "threads", "nanogen ms", "pytorch ms", "ratio");
  auto row = [&](const char* name, double ours, const std::string& script) {
    const double theirs = no_pytorch ? -1 : time_pytorch(script, batch, threads, steps, device);
    std::printf("%-6s %6lld %8d %12.2f %12.2f %8.2f\n", name, (long long)batch, threads, ours, theirs,
                theirs > 0 ? ours / theirs : 0.0);
  };
  if (models.find("vae") != std::string::npos) row("vae", time_vae(batch, steps, dev), "benchmarks/pytorch/vae.py");
  if (models.find("ddpm") != std::string::npos)
    row("ddpm", time_ddpm(batch, steps, dev), "benchmarks/pytorch/ddpm.py");
  return 0;
}
