// Median training-step time of nanogen's models, side by side with their
// PyTorch twins (benchmarks/pytorch/*.py) run on the same machine.
//
//   build/bin/bench_train_step [--batch 64] [--threads 2] [--steps 30] [--device cpu] [--model vae|gan|ddpm]
//                            [--python /usr/bin/python3] [--scripts benchmarks/pytorch]
//                            [--precision auto|fp32|tf32|bf16] [--no-pytorch] [--torch-compile]
//
// --torch-compile adds PyTorch's time with its model through torch.compile
// (default mode; PyTorch 2.0+), and nanogen's ratio to it.
// On a GPU PyTorch runs with cudnn.benchmark on. --precision sets both
// engines' math (engine/precision.h): fp32 is strict fp32 for both; tf32
// (PyTorch's default for convolutions) lets nanogen's GEMMs and convolutions
// and cuDNN and cuBLAS use TF32 tensor cores; bf16 runs nanogen's GEMMs in
// bf16 (its convolutions in tf32) against PyTorch in TF32. auto is what
// `nanogen train` would use. On the CPU only fp32 (or auto) is accepted.
//
// A step is: forward, loss, backward, Adam update, on a fixed random batch.
// Memory: the peak resident set of the process while the model is built and
// trained (its high-water mark, reset before), and its rise above what the
// process held before; the PyTorch twin reports the same two numbers
// (benchmarks/pytorch/peak_memory.py). The rise is the comparable one: the
// Python process starts out holding the interpreter and its libraries.
// For the GAN a step is one discriminator step and one generator step
// (nonsaturating loss), as in benchmarks/pytorch/gan.py --bench.
#include <omp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "engine/nanogen.h"
#include "engine/optim/optimizer.h"
#include "models/gan.h"
#include "models/diffusion.h"
#include "models/unet.h"
#include "models/vae.h"

using namespace ng;

namespace {

// A field of /proc/self/status in MiB ("VmRSS", "VmHWM").
double status_mib(const std::string& key) {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind(key + ":", 0) == 0) return std::atof(line.c_str() + key.size() + 1) / 1024.0;
  return -1;
}

// Resets the high-water mark to the current RSS (Linux 4.0+) and returns that RSS.
double reset_peak() {
  std::ofstream("/proc/self/clear_refs") << "5";
  return status_mib("VmRSS");
}

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

double time_gan(int64_t batch, int steps, Device device) {
  manual_seed(0);
  models::GAN model{models::GANConfig{}};
  model.to(device);
  const optim::AdamOptions adam{.lr = 2e-4, .beta1 = 0.5, .beta2 = 0.999};
  optim::Adam opt_d(model.D->named_parameters(), adam), opt_g(model.G->named_parameters(), adam);
  const models::GANObjective objective{models::GANLoss::nonsaturating, 0.0, 0.0};
  const TensorOptions on_device = TensorOptions{}.with_device(device);
  Generator gen(1);
  const Tensor x = rand({batch, 1, 28, 28}, gen, on_device) * 2.0 - 1.0;
  std::vector<double> ms;
  for (int i = 0; i < steps + 5; ++i) {
    const Tensor z_d = randn({batch, 64}, gen, on_device), z_g = randn({batch, 64}, gen, on_device);
    const auto t0 = std::chrono::steady_clock::now();
    opt_d.zero_grad();
    const models::DiscriminatorTerms d = model.discriminator_terms(x, z_d, {}, objective);
    d.loss.backward();
    opt_d.step();
    opt_g.zero_grad();
    const Tensor g = model.generator_terms(z_g, objective).first;
    g.backward();
    opt_g.step();
    (void)d.loss.item();
    (void)g.item();  // waits for the device
    const double dt = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (i >= 5) ms.push_back(dt);
  }
  return median(ms);
}

// The canonical U-Net: t drawn on the device, then the training step's own
// path: q_sample with its noise drawn in the pass, L_simple, backward, Adam
// (the twin draws eps before its timer starts; nanogen draws it inside).
double time_ddpm(int64_t batch, int steps, Device device) {
  manual_seed(0);
  models::UNet model{models::UNetConfig{}};
  model.to(device);
  const models::Diffusion diffusion;
  const models::EpsPredictor net = [&](const Tensor& x, const Tensor& t) { return model.forward(x, t); };
  optim::Adam opt(model.named_parameters(), {.lr = 2e-4});
  Generator gen(1);
  const TensorOptions on = TensorOptions{}.with_device(device);
  const Tensor x0 = rand({batch, 1, 28, 28}, gen, on) * 2.0 - 1.0;
  std::vector<double> ms;
  for (int i = 0; i < steps + 3; ++i) {
    const Tensor t = diffusion.sample_timesteps(batch, gen, device);
    (void)sum(t).item();  // the draws finish before the timer starts, as the twin's do
    const auto t0 = std::chrono::steady_clock::now();
    const Tensor loss = diffusion.loss(net, x0, t, gen);
    opt.zero_grad();
    loss.backward();
    opt.step();
    (void)loss.item();  // waits for the device
    const double dt = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (i >= 3) ms.push_back(dt);
  }
  return median(ms);
}

struct Measured {
  double ms = -1, peak_mib = -1, rise_mib = -1;
  std::string why_none;  // when the twin printed no time: its reason, if it gave one
};

// Runs the PyTorch twin's --bench (with --compile: its model through
// torch.compile) and reads the median and the memory it prints.
Measured time_pytorch(const std::string& python, const std::string& script, int64_t batch, int threads, int steps,
                    const std::string& device, bool tf32, bool compile) {
  const std::string cmd = python + " " + script + " --bench --batch " + std::to_string(batch) + " --threads " +
                          std::to_string(threads) + " --steps " + std::to_string(steps) + " --device " + device +
                          (tf32 ? " --tf32" : "") + (compile ? " --compile" : "") + " 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  Measured r;
  if (!p) return r;
  char line[512];
  while (std::fgets(line, sizeof line, p)) {
    if (const char* m = std::strstr(line, "median ")) r.ms = std::atof(m + 7);
    if (const char* m = std::strstr(line, " peak ")) r.peak_mib = std::atof(m + 6);
    if (const char* m = std::strstr(line, "(+")) r.rise_mib = std::atof(m + 2);
    if (std::strstr(line, "unavailable")) r.why_none = std::string(line, std::strcspn(line, "\n"));
  }
  pclose(p);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"training-step time of nanogen's models against their PyTorch twins"};
  int64_t batch = 64;
  int threads = 2, steps = 30;
  std::string device = "cpu";
  bool no_pytorch = false, torch_compile = false;
  std::string precision = "auto";
  std::string scripts = "benchmarks/pytorch";
  // Debian's PyTorch lives in /usr/bin/python3; a python3 earlier on PATH may lack it.
  std::string only, python = std::filesystem::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
  app.add_option("--batch", batch)->capture_default_str();
  app.add_option("--threads", threads)->capture_default_str();
  app.add_option("--steps", steps)->capture_default_str();
  app.add_option("--device", device)->capture_default_str();
  app.add_flag("--no-pytorch", no_pytorch, "time nanogen only");
  app.add_flag("--torch-compile", torch_compile,
               "also time each PyTorch twin through torch.compile (PyTorch 2.0+; compiling takes minutes on a GPU)");
  app.add_option("--model", only, "time only this model (vae, gan, ddpm)");
  app.add_option("--python", python, "the Python with PyTorch (e.g. /usr/bin/python3)")->capture_default_str();
  app.add_option("--scripts", scripts, "the folder of the PyTorch twins")->capture_default_str();
  app.add_option("--precision", precision,
                 "matmul and convolution math on the GPU for both engines: auto | fp32 | tf32 | bf16 "
                 "(PyTorch races in tf32 then)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  // A row per line as it is measured: a run cut short by a timeout keeps the rows it finished.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  omp_set_num_threads(threads);
  const Device dev = Device::parse(device);
  ng::MatmulPrecision math = ng::MatmulPrecision::fp32;
  try {
    math = ng::resolve_precision(precision, dev);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_train_step: %s\n", e.what());
    return 2;
  }
  ng::set_matmul_precision(math);
  const bool pytorch_tf32 = math != ng::MatmulPrecision::fp32;

  if (dev.is_cuda())
    std::printf("nanogen: %s; PyTorch on the GPU: cudnn.benchmark on, TF32 %s\n", ng::to_string(math),
                pytorch_tf32 ? "on (matmul and cuDNN)" : "off (strict fp32)");
  std::printf("%-6s %6s %8s %12s %12s %8s %18s %18s", "model", "batch", "threads", "nanogen ms", "pytorch ms", "ratio",
              "nanogen peak MiB", "pytorch peak MiB");
  if (torch_compile) std::printf(" %12s %8s", "compiled ms", "ratio");
  std::printf("\n");
  std::string compile_note;
  struct Entry {
    const char* name;
    double (*time)(int64_t, int, Device);
  };
  for (const Entry& e : {Entry{"vae", time_vae}, Entry{"gan", time_gan}, Entry{"ddpm", time_ddpm}}) {
    if (!only.empty() && only != e.name) continue;
    Measured ours;
    const double base_mib = reset_peak();
    ours.ms = e.time(batch, steps, dev);
    ours.peak_mib = status_mib("VmHWM");
    ours.rise_mib = ours.peak_mib - base_mib;
    const std::string script = scripts + "/" + e.name + ".py";
    const Measured theirs =
        no_pytorch ? Measured{} : time_pytorch(python, script, batch, threads, steps, device, pytorch_tf32, false);
    const Measured compiled = no_pytorch || !torch_compile
                                  ? Measured{}
                                  : time_pytorch(python, script, batch, threads, steps, device, pytorch_tf32, true);
    const auto memory = [](const Measured& m) {
      char text[32] = "-";
      if (m.peak_mib >= 0) std::snprintf(text, sizeof text, "%.0f (+%.0f)", m.peak_mib, m.rise_mib);
      return std::string(text);
    };
    std::printf("%-6s %6lld %8d %12.2f %12.2f %8.2f %18s %18s", e.name, (long long)batch, threads, ours.ms, theirs.ms,
                theirs.ms > 0 ? ours.ms / theirs.ms : 0.0, memory(ours).c_str(), memory(theirs).c_str());
    if (torch_compile) std::printf(" %12.2f %8.2f", compiled.ms, compiled.ms > 0 ? ours.ms / compiled.ms : 0.0);
    std::printf("\n");
    if (compiled.ms < 0 && !compiled.why_none.empty()) compile_note = compiled.why_none;
  }
  if (!compile_note.empty()) std::printf("(compiled ms -1: %s)\n", compile_note.c_str());
  return 0;
}
