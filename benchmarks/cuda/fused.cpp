// Philox generation, the fused model kernels and the multi-tensor Adam on the
// GPU: achieved bandwidth against the device-to-device copy roofline measured
// in the same run, against cuRAND (generation) and against the same math as
// separate elementwise launches through the engine's ops (the composite).
//
//   build/bin/bench_cuda_fused [--n 16777216] [--samples 15] [--list]
//
// Method: validate each kernel first (against the CPU twin or the composite),
// then race it against the other side (race.h: interleaved, at least 20
// launches per event pair, on the engine's stream). Large sizes stream every
// operand through device memory (16M float32 = 64 MiB an array, past the L2
// of any current GPU), so no rotation of inputs is needed; the model-sized
// rows are launch-bound and say so.
// Exit status 1 when a validation fails or no GPU is visible.
#include <cuda_runtime_api.h>
#include <curand.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "engine/cpu/adam.h"
#include "engine/cpu/random.h"
#include "engine/cuda/backend.h"
#include "engine/cuda/runtime.h"
#include "engine/nanogen.h"
#include "kernels/adam.h"
#include "kernels/fused.h"
#include "kernels/random.h"
#include "models/vae.h"
#include "race.h"
#include "models/diffusion.h"

using namespace ng;

namespace {

bool g_failed = false;

void check(bool ok, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "VALIDATION FAILED: %s\n", what.c_str());
    g_failed = true;
  }
}

#define CURAND_OK(call)                                                         \
  do {                                                                          \
    if ((call) != CURAND_STATUS_SUCCESS) {                                      \
      std::fprintf(stderr, "cuRAND call failed: %s\n", #call);                  \
      std::exit(1);                                                             \
    }                                                                           \
  } while (0)

cudaStream_t s0() { return cuda::stream(0); }

int g_samples = 15;

// Ours against theirs, interleaved (race.h); both write the same buffers.
ng::bench::RaceResult race(const std::function<void()>& ours, const std::function<void()>& theirs) {
  return ng::bench::race(s0(), 1, g_samples, [&](int) { ours(); }, [&](int) { theirs(); });
}

double gbps(double bytes, double ms) { return bytes / (ms * 1e-3) / 1e9; }

// Largest |a - b| / (|b| + 1) between a GPU and a CPU tensor.
double max_rel_diff(const Tensor& a, const Tensor& b) {
  const std::vector<double> x = a.to(Device::cpu()).to(DType::f64).to_vector<double>();
  const std::vector<double> y = b.to(Device::cpu()).to(DType::f64).to_vector<double>();
  double worst = x.size() == y.size() ? 0 : INFINITY;
  for (size_t i = 0; i < std::min(x.size(), y.size()); ++i) {
    const double d = std::fabs(x[i] - y[i]) / (std::fabs(y[i]) + 1);
    worst = std::isnan(d) ? INFINITY : std::max(worst, d);
  }
  return worst;
}

struct Row {
  std::string op, shape;
  double bytes;
  ng::bench::RaceResult r;  // ours: the fused kernel; theirs: the composite (or cuRAND)
};

std::string shape_of(const Shape& s) { return shape_str(s); }

void print_table(const char* title, const char* other_name, const std::vector<Row>& rows, double copy_gbps) {
  std::printf("\n%s (copy roofline %.0f GB/s; target >= 80%%)\n", title, copy_gbps);
  std::printf("%-24s %-18s %9s %10s %8s %6s %-6s %12s %8s %6s\n", "op", "shape", "MB/call", "fused us", "GB/s",
              "%copy", "target", other_name, "GB/s", "ratio");
  for (const Row& r : rows) {
    const double g = gbps(r.bytes, r.r.ours_ms), o = gbps(r.bytes, r.r.theirs_ms), frac = g / copy_gbps;
    std::printf("%-24s %-18s %9.2f %10.1f %8.0f %5.0f%% %-6s %12.1f %8.0f %6.2f\n", r.op.c_str(), r.shape.c_str(),
                r.bytes / 1e6, r.r.ours_ms * 1e3, g, 100 * frac, frac >= 0.8 ? "ok" : "below", r.r.theirs_ms * 1e3, o,
                r.r.ratio);
  }
  std::printf("ratio = fused / other, the median of interleaved pairs (< 1: fused faster)\n");
}

TensorOptions gpu_f32() { return TensorOptions{}.with_device(Device::cuda(0)); }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"fused kernels, Philox and multi-tensor Adam against the copy roofline, cuRAND and the composites"};
  int64_t n = int64_t(1) << 24;
  bool list = false;
  app.add_option("--n", n, "elements of the large rows")->capture_default_str();
  app.add_option("--samples", g_samples, "interleaved pairs per row (median reported)")->capture_default_str();
  app.add_flag("--list", list, "print the rows this would measure and exit (no GPU needed)");
  CLI11_PARSE(app, argc, argv);
  if (n < 1024 || n % 1024 != 0 || g_samples < 1) {
    std::fprintf(stderr, "bench_cuda_fused: --n must be a positive multiple of 1024 and --samples at least 1\n");
    return 2;
  }
  if (list) {
    for (const char* row : {"uniform (Philox) vs cuRAND", "normal (Philox) vs cuRAND",
                            "reparam, reparam backward [64,16] and [n/16,16] vs composite",
                            "q_sample, p_sample, ddim_step [128,1,28,28] and [n/1024,1,32,32] vs composite",
                            "adam VAE, adam large: multi-tensor vs per-tensor and vs composite"})
      std::printf("%s\n", row);
    return 0;
  }
  if (!cuda_available()) {
    std::fprintf(stderr, "bench_cuda_fused: no GPU is visible\n");
    return 1;
  }
  ng::bench::Ceilings ceilings;
  ceilings.copy_gbs = ng::bench::measure_copy_gbs(s0());
  ng::bench::print_preamble("bench_cuda_fused: Philox, the fused model kernels and Adam", ng::bench::device_facts(),
                            ceilings, g_samples);
  try {
    NoGradGuard no_grad;
    const kernels::ScalarType f32 = kernels::ScalarType::f32;

    const double copy_gbps = ceilings.copy_gbs;

    // ---- Philox generation against cuRAND ---------------------------------------------
    std::vector<Row> gen_rows;
    {
      curandGenerator_t gen;
      CURAND_OK(curandCreateGenerator(&gen, CURAND_RNG_PSEUDO_PHILOX4_32_10));
      CURAND_OK(curandSetPseudoRandomGeneratorSeed(gen, 1234));
      CURAND_OK(curandSetStream(gen, s0()));
      Tensor out = empty({n}, gpu_f32());
      // Validate: our kernels against the CPU twin on a prefix-sized draw.
      {
        const int64_t m = 1 << 16;
        Tensor g = empty({m}, gpu_f32()), c = empty({m});
        kernels::launch_uniform(f32, g.raw_data(), m, 7, 3, s0());
        cpu::uniform(c, 7, 3);
        check(max_rel_diff(g, c) == 0, "Philox uniforms differ from the CPU");
        kernels::launch_normal(f32, g.raw_data(), m, 7, 3, s0());
        cpu::normal(c, 7, 3);
        check(max_rel_diff(g, c) < 1e-6, "Philox normals differ from the CPU by more than an ulp");
      }
      const double bytes = 4.0 * double(n);
      gen_rows.push_back({"uniform (Philox)", shape_of({n}), bytes,
                          race([&] { kernels::launch_uniform(f32, out.raw_data(), n, 1, 0, s0()); },
                               [&] { CURAND_OK(curandGenerateUniform(gen, out.data<float>(), size_t(n))); })});
      gen_rows.push_back({"normal (Philox)", shape_of({n}), bytes,
                          race([&] { kernels::launch_normal(f32, out.raw_data(), n, 1, 0, s0()); },
                               [&] { CURAND_OK(curandGenerateNormal(gen, out.data<float>(), size_t(n), 0.0f, 1.0f)); })});
      curandDestroyGenerator(gen);
    }
    print_table("Philox generation, float32 (bytes: the output written)", "cuRAND us", gen_rows, copy_gbps);

    // ---- fused model kernels against the composite of engine ops ----------------------
    std::vector<Row> rows;
    Generator gen(5);
    const models::Diffusion diffusion(models::BetaSchedule::linear, 1000);
    const std::vector<double> abar = diffusion.alpha_bars();
    for (const Shape& shape : {Shape{64, 16}, Shape{n / 16, 16}}) {  // the VAE's latent batch, and a large one
      const Tensor mu = randn(shape, gen, gpu_f32()), lv = randn(shape, gen, gpu_f32()) * 0.5;
      Tensor z = empty(shape, gpu_f32()), eps = empty(shape, gpu_f32());
      const int64_t m = mu.numel();
      auto fused = [&] {
        kernels::launch_reparam_forward(f32, z.raw_data(), eps.raw_data(), mu.raw_data(), lv.raw_data(), m, true, 5,
                                        9, s0());
      };
      auto composite = [&] {
        Generator g(5, 9);
        const Tensor e = randn(shape, g, gpu_f32());
        return mu + exp(lv * 0.5) * e;
      };
      fused();
      check(max_rel_diff(z, composite()) < 1e-5, "reparam: fused and composite disagree");
      rows.push_back({"reparam (draw eps)", shape_of(shape), 16.0 * double(m), race(fused, [&] { composite(); })});
      const Tensor g = randn(shape, gen, gpu_f32());
      Tensor dlv = empty(shape, gpu_f32());
      auto fused_back = [&] {
        kernels::launch_reparam_backward(f32, dlv.raw_data(), g.raw_data(), lv.raw_data(), eps.raw_data(), m, s0());
      };
      auto composite_back = [&] { return g * eps * exp(lv * 0.5) * 0.5; };
      fused_back();
      check(max_rel_diff(dlv, composite_back()) < 1e-5, "reparam backward: fused and composite disagree");
      rows.push_back({"reparam backward", shape_of(shape), 16.0 * double(m), 
                      race(fused_back, [&] { composite_back(); })});
    }
    for (const Shape& shape : {Shape{128, 1, 28, 28}, Shape{n / 1024, 1, 32, 32}}) {  // DDPM batch, and a large one
      const int64_t batch = shape[0], m = shape_numel(shape);
      const Tensor x0 = rand(shape, gen, gpu_f32());
      std::vector<float> steps(static_cast<size_t>(batch));
      for (int64_t i = 0; i < batch; ++i) steps[size_t(i)] = float(1 + (i * 37) % 1000);
      const Tensor t = from_vector(steps, {batch});
      // The per-sample coefficients, as q_sample makes them (precomputed here:
      // the kernel is timed, not the host-side checks of the op).
      std::vector<double> coef, a, b;
      for (float s : steps) {
        const kernels::QSampleCoefficients c = kernels::q_sample_coefficients(abar[size_t(s) - 1]);
        coef.insert(coef.end(), {c.sqrt_alpha_bar, c.sqrt_one_minus_alpha_bar});
        a.push_back(c.sqrt_alpha_bar);
        b.push_back(c.sqrt_one_minus_alpha_bar);
      }
      const Tensor coefs = from_vector(coef, {batch, 2}).to(DType::f32).to(Device::cuda(0));
      const Tensor ca = from_vector(a, {batch, 1, 1, 1}).to(DType::f32).to(Device::cuda(0));
      const Tensor cb = from_vector(b, {batch, 1, 1, 1}).to(DType::f32).to(Device::cuda(0));
      Tensor xt = empty(shape, gpu_f32()), eps = empty(shape, gpu_f32());
      auto fused = [&] {
        kernels::launch_q_sample(f32, xt.raw_data(), eps.raw_data(), x0.raw_data(), coefs.raw_data(), m, m / batch, 3,
                                 0, s0());
      };
      auto composite = [&] {
        Generator g(3, 0);
        return ca * x0 + cb * randn(shape, g, gpu_f32());
      };
      fused();
      check(max_rel_diff(xt, composite()) < 1e-5, "q_sample: fused and composite disagree");
      {
        Generator g(3, 0);
        check(max_rel_diff(xt, q_sample(x0, t, abar, g).x_t) == 0, "q_sample: the op and its kernel disagree");
      }
      rows.push_back({"q_sample", shape_of(shape), 12.0 * double(m), race(fused, [&] { composite(); })});

      // The sampler's steps with the clamp, noise on: the full chain's step
      // 500 -> 499 and a 20-step DDIM jump, against Diffusion's composites.
      const Tensor e = randn(shape, gen, gpu_f32());
      const kernels::PSampleCoefficients<double> pc = diffusion.p_sample_coefficients(500, 499, true);
      Tensor out = empty(shape, gpu_f32());
      auto p_fused = [&] {
        kernels::launch_p_sample(f32, out.raw_data(), xt.raw_data(), e.raw_data(), m, pc, true, 8, 0, s0());
      };
      auto p_composite = [&] {
        Generator g(8, 0);
        return diffusion.p_sample_step(xt, e, 500, 499, randn(shape, g, gpu_f32()), true);
      };
      p_fused();
      check(max_rel_diff(out, p_composite()) < 1e-5, "p_sample: fused and composite disagree");
      rows.push_back({"p_sample", shape_of(shape), 12.0 * double(m), race(p_fused, [&] { p_composite(); })});

      const kernels::DDIMCoefficients<double> dc = diffusion.ddim_coefficients(500, 480, 0.5, true);
      auto d_fused = [&] {
        kernels::launch_ddim_step(f32, out.raw_data(), xt.raw_data(), e.raw_data(), m, dc, true, 9, 0, s0());
      };
      auto d_composite = [&] {
        Generator g(9, 0);
        return diffusion.ddim_step(xt, e, 500, 480, 0.5, randn(shape, g, gpu_f32()), true);
      };
      d_fused();
      check(max_rel_diff(out, d_composite()) < 1e-5, "ddim_step: fused and composite disagree");
      rows.push_back({"ddim_step", shape_of(shape), 12.0 * double(m), race(d_fused, [&] { d_composite(); })});
    }
    print_table("Fused model kernels, float32 (bytes: each operand read or written once)", "compos. us", rows, copy_gbps);

    // ---- Adam: one multi-tensor launch against one launch per tensor and the composite --
    std::vector<Row> adam_rows;
    std::vector<std::pair<std::string, std::vector<Shape>>> param_sets;
    {
      models::VAE vae{models::VAEConfig{}};
      std::vector<Shape> shapes;
      for (const auto& named : vae.named_parameters()) shapes.push_back(named.second.shape());
      param_sets.push_back({"adam VAE", shapes});
      std::vector<Shape> big;  // a U-Net-like mix: many small tensors and some large ones
      for (int k = 0; k < 48; ++k) big.push_back({k % 4 == 0 ? 256 : 64});
      for (int k = 0; k < 24; ++k) big.push_back({128, 128, 3, 3});
      for (int k = 0; k < 8; ++k) big.push_back({n / 16});
      param_sets.push_back({"adam large", big});
    }
    for (const auto& [label, shapes] : param_sets) {
      std::vector<cuda::AdamTensors> params;
      int64_t total = 0;
      for (const Shape& s : shapes) {
        params.push_back({randn(s, gen, gpu_f32()), randn(s, gen, gpu_f32()), zeros(s, gpu_f32()), zeros(s, gpu_f32())});
        total += shape_numel(s);
      }
      kernels::AdamStep st{1e-3, 0.9, 0.999, 1e-8, 0.0, false, 10};
      // Validate one step of each against the CPU (bit-identical expected).
      {
        const cuda::AdamTensors& q = params.back();
        const Tensor p = q.p.to(Device::cpu()), g = q.g.to(Device::cpu()), m = q.m.to(Device::cpu()),
                     v = q.v.to(Device::cpu());
        cuda::adam_step_multi(st, params);
        cpu::adam_step(st, p, g, m, v);
        check(max_rel_diff(params.back().p, p) == 0, "Adam multi-tensor differs from the CPU");
      }
      auto multi = [&] { cuda::adam_step_multi(st, params); };
      auto per_tensor = [&] {
        for (const cuda::AdamTensors& q : params) cuda::adam_step(st, q.p, q.g, q.m, q.v);
      };
      const double b1 = st.beta1, b2 = st.beta2, step_size = st.lr / (1 - std::pow(b1, 10.0));
      const double bc2 = std::sqrt(1 - std::pow(b2, 10.0));
      auto composite = [&] {
        for (const cuda::AdamTensors& q : params) {
          Tensor(q.m).copy_(q.m * b1 + q.g * (1 - b1));
          Tensor(q.v).copy_(q.v * b2 + q.g * q.g * (1 - b2));
          Tensor(q.p).copy_(q.p - q.m / (sqrt(q.v) / bc2 + st.eps) * step_size);
        }
      };
      const std::string shape = std::to_string(shapes.size()) + "x, " + std::to_string(total);
      const double bytes = 28.0 * double(total);
      adam_rows.push_back({label + " /per-tensor", shape, bytes, race(multi, per_tensor)});
      adam_rows.push_back({label + " /composite", shape, bytes, race(multi, composite)});

      // The EMA of the same tensors: one launch against the composite
      // mul_ + add_ a tensor that it replaced (the same bits, checked).
      std::vector<std::pair<Tensor, Tensor>> averages;
      for (const cuda::AdamTensors& q : params) averages.emplace_back(q.m, q.p);
      {
        Tensor expected = averages.back().first.clone();
        mul_(expected, 0.999);
        add_(expected, averages.back().second, 1.0 - 0.999);
        cuda::ema_update_multi(0.999, averages);
        check(max_rel_diff(averages.back().first, expected) == 0, "EMA multi-tensor differs from the composite");
      }
      auto ema_multi = [&] { cuda::ema_update_multi(0.999, averages); };
      auto ema_composite = [&] {
        for (auto& [average, value] : averages) {
          mul_(average, 0.999);
          add_(average, value, 1.0 - 0.999);
        }
      };
      const std::string ema_label = "ema" + label.substr(4);  // "ema VAE", "ema large"
      adam_rows.push_back({ema_label + " /composite", shape, 12.0 * double(total), race(ema_multi, ema_composite)});
    }
    print_table("Adam and the EMA, float32, one multi-tensor launch against one launch per tensor and against the "
                "composite (bytes: Adam reads p, g, m, v and writes p, m, v; the EMA reads two and writes one)",
                "other us", adam_rows, copy_gbps);

    if (g_failed) {
      std::fprintf(stderr, "bench_cuda_fused: validation failed (see above)\n");
      return 1;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_cuda_fused: %s\n", e.what());
    return 1;
  }
  return 0;
}
