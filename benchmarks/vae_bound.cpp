// How long the importance-weighted bound of the canonical VAE (z = 16,
// 28x28x1, learned-sigma Gaussian decoder) takes: N test images, K samples
// each, with the time split into the networks and the discretised likelihood.
//
//   build/bin/bench_vae_bound [--images 1000] [--samples 64] [--batch 1024] [--device cpu] [--threads 0]
//
// The weights are random (the time does not depend on them); the images are
// Fashion-MNIST's test split when installed, else random 8-bit images.
#include <omp.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <vector>

#include "engine/data/datasets.h"
#include "engine/nanogen.h"
#include "models/vae.h"
#include "models/vae_bound.h"

using namespace ng;

int main(int argc, char** argv) {
  CLI::App app{"time the VAE's importance-weighted bound"};
  int64_t images = 1000, samples = 64, batch = 1024;
  std::string device_name = "cpu";
  int threads = 0;
  app.add_option("--images", images);
  app.add_option("--samples", samples);
  app.add_option("--batch", batch, "decodings (image x sample pairs) per decoder call");
  app.add_option("--device", device_name);
  app.add_option("--threads", threads, "CPU threads (0: all cores)");
  CLI11_PARSE(app, argc, argv);
  if (threads > 0) omp_set_num_threads(threads);
  const Device device = Device::parse(device_name);

  Tensor x;
  std::string source;
  if (std::filesystem::exists("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")) {
    x = load_dataset("fashion-mnist", "test").images.narrow(0, 0, images).contiguous();
    source = "fashion-mnist test";
  } else {
    std::mt19937 rng(3);
    std::vector<float> v(size_t(images * 784));
    for (float& p : v) p = float(rng() % 256) / 255.0f;
    x = from_vector(v, {images, 1, 28, 28});
    source = "random 8-bit";
  }
  models::VAEConfig c;
  c.likelihood = models::Likelihood::gaussian_learned;
  manual_seed(0);
  models::VAE model(c);
  model.to(device);

  Generator gen(1);
  const auto t0 = std::chrono::steady_clock::now();
  const models::IWBound b = models::importance_weighted_bound(model, x, samples, gen, batch);
  const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  // The networks alone: the same decodings without the likelihood.
  const auto t1 = std::chrono::steady_clock::now();
  {
    NoGradGuard no_grad;
    const int64_t per_call = std::max<int64_t>(1, batch / samples);
    for (int64_t s = 0; s < images; s += per_call) {
      const int64_t n = std::min(per_call, images - s);
      const auto [mu, logvar] = model.encode(x.narrow(0, s, n).to(device));
      const Tensor eps = randn({n, samples, c.z_dim}, gen, TensorOptions{}.with_device(device));
      const Tensor z = (mu.unsqueeze(1) + exp(logvar * 0.5).unsqueeze(1) * eps).reshape({n * samples, c.z_dim});
      (void)model.decode(z).to_vector<float>();
    }
  }
  const double nets = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();

  std::printf("%-10s %-20s %7s %4s %6s %9s %11s %11s %8s\n", "device", "images", "N", "K", "batch", "total_s",
              "networks_s", "likelihood_s", "bpd");
  std::printf("%-10s %-20s %7lld %4lld %6lld %9.2f %11.2f %11.2f %8.3f\n", device.str().c_str(), source.c_str(),
              (long long)images, (long long)samples, (long long)batch, total, nets, total - nets, b.bits_per_dim);
  return 0;
}
