// The fused model kernels and Adam on the GPU against their CPU twins.
//
// Tolerances: the fused formulas are evaluated with each operation rounded
// on its own on both sides (kernels/rn_math.h), so the GPU differs from the
// CPU only through exp (CUDA's expf is within 2 ulp, glibc's within 1) and the
// drawn normals (one float32 ulp): we allow 8 float32 ulps relative plus
// 1e-6 absolute in float32, 1e-13 relative in float64. Adam uses no
// transcendental function: its GPU update is bit-identical to the CPU's.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iterator>
#include <vector>

#include "engine/cpu/adam.h"
#include "engine/cpu/ema.h"
#include "engine/cpu/fused.h"
#include "engine/nn/layers.h"
#include "engine/optim/optimizer.h"
#include "models/diffusion.h"
#include "models/unet.h"
#include "support/cuda.h"
#include "support/gradcheck.h"

#ifdef NANOGEN_WITH_CUDA
#include "engine/cuda/backend.h"
#include "kernels/adam.h"
#include "models/diffusion.h"
#endif

using namespace ng;

namespace {

const int64_t kSizes[] = {1, 3, 5, 8, 1023, 4097, 100003};

void expect_twin(const Tensor& gpu, const Tensor& cpu, const char* what) {
  const double rtol = cpu.dtype() == DType::f32 ? 8 * 1.2e-7 : 1e-13;
  const double atol = cpu.dtype() == DType::f32 ? 1e-6 : 1e-13;
  SCOPED_TRACE(what);
  test::expect_close(gpu.to(Device::cpu()), cpu, atol, rtol);
}

template <class T>
void expect_bitwise(const Tensor& gpu, const Tensor& cpu, const char* what) {
  const std::vector<T> a = gpu.to(Device::cpu()).to_vector<T>(), b = cpu.to_vector<T>();
  ASSERT_EQ(a.size(), b.size()) << what;
  int64_t bad = 0;
  for (size_t i = 0; i < a.size(); ++i)
    if (!(a[i] == b[i]) && ++bad <= 5) ADD_FAILURE() << what << " element " << i << ": gpu " << a[i] << " cpu " << b[i];
  EXPECT_EQ(bad, 0) << what << " of " << a.size();
}

// A NaN-filled GPU tensor of n elements, starting `shift` elements into its
// buffer (shift = 1 makes the data pointer miss 16-byte alignment).
[[maybe_unused]] Tensor poisoned_view(int64_t n, int64_t shift, DType dt) {
  return test::poisoned({n + shift}, dt).narrow(0, shift, n);
}

[[maybe_unused]] Tensor on_gpu_view(const Tensor& cpu, int64_t shift) {
  Tensor v = poisoned_view(cpu.numel(), shift, cpu.dtype()).view(cpu.shape());
  v.copy_(cpu);
  return v;
}

}  // namespace

// ---- the kernels through the backend entry points, outputs poisoned ------------

TEST(CudaFused, ReparamKernelsMatchTheCpu) {
  NG_REQUIRE_GPU();
#ifdef NANOGEN_WITH_CUDA
  for (DType dt : {DType::f32, DType::f64}) {
    for (int64_t n : kSizes) {
      for (int64_t shift : {0, 1}) {
        const Tensor mu = test::uniform({n}, 1, -2, 2, dt), lv = test::uniform({n}, 2, -4, 2, dt);
        const Tensor g = test::uniform({n}, 3, -1, 1, dt);
        // Drawn eps.
        Tensor z = poisoned_view(n, shift, dt), eps = poisoned_view(n, shift, dt);
        Tensor zc = empty({n}, TensorOptions{}.with_dtype(dt)), ec = empty_like(zc);
        cuda::reparam_forward(z, eps, on_gpu_view(mu, shift), on_gpu_view(lv, shift), true, 11, 3);
        cpu::reparam_forward(zc, ec, mu, lv, true, 11, 3);
        expect_twin(eps, ec, "drawn eps");
        expect_twin(z, zc, "z (drawn)");
        // Given eps (the CPU's), read not written.
        Tensor z2 = poisoned_view(n, shift, dt);
        const Tensor eps_in = on_gpu_view(ec, shift);
        cuda::reparam_forward(z2, eps_in, on_gpu_view(mu, shift), on_gpu_view(lv, shift), false, 0, 0);
        expect_twin(z2, zc, "z (given eps)");
        // Backward.
        Tensor d = poisoned_view(n, shift, dt), dc = empty_like(zc);
        cuda::reparam_backward(d, on_gpu_view(g, shift), on_gpu_view(lv, shift), eps_in);
        cpu::reparam_backward(dc, g, lv, ec);
        expect_twin(d, dc, "dlogvar");
      }
    }
  }
#endif
}

TEST(CudaFused, DiffusionKernelsMatchTheCpu) {
  NG_REQUIRE_GPU();
#ifdef NANOGEN_WITH_CUDA
  const models::Diffusion diffusion(models::BetaSchedule::linear, 1000);
  for (DType dt : {DType::f32, DType::f64}) {
    for (int64_t n : kSizes) {
      for (int64_t shift : {0, 1}) {
        for (int64_t samples : {int64_t(1), int64_t(3), n}) {  // per-sample blocks of odd sizes, and of 1 element
          if (n % samples != 0) continue;
          const Tensor x0 = test::uniform({samples, n / samples}, 4, -1, 1, dt);
          const Tensor coef = test::uniform({samples, 2}, 5, 0.01, 1, dt);
          Tensor xt = poisoned_view(n, shift, dt).view(x0.shape()), eps = poisoned_view(n, shift, dt).view(x0.shape());
          Tensor xtc = empty_like(x0), epsc = empty_like(x0);
          cuda::q_sample(xt, eps, on_gpu_view(x0, shift), coef.to(test::gpu()), 21, 7);
          cpu::q_sample(xtc, epsc, x0, coef, 21, 7);
          expect_twin(eps, epsc, "q_sample eps");
          expect_twin(xt, xtc, "q_sample x_t");
        }
        const Tensor x = test::uniform({n}, 6, -3, 3, dt), e = test::uniform({n}, 7, -2, 2, dt);
        for (bool noise : {false, true}) {
          // With the clamp, which x_t in [-3, 3] exercise at this step.
          const kernels::PSampleCoefficients<double> pc = diffusion.p_sample_coefficients(300, 280, noise);
          const kernels::DDIMCoefficients<double> dc = diffusion.ddim_coefficients(300, 280, 0.3, noise);
          Tensor out = poisoned_view(n, shift, dt), ref = empty_like(x);
          cuda::p_sample(out, on_gpu_view(x, shift), on_gpu_view(e, shift), pc, noise, 31, 2);
          cpu::p_sample(ref, x, e, pc, noise, 31, 2);
          expect_twin(out, ref, "p_sample");
          cuda::ddim_step(out, on_gpu_view(x, shift), on_gpu_view(e, shift), dc, noise, 32, 4);
          cpu::ddim_step(ref, x, e, dc, noise, 32, 4);
          expect_twin(out, ref, "ddim_step");
        }
      }
    }
  }
#endif
}

// ---- the ops end to end: the same generator state, the same numbers --------------

TEST(CudaFused, OpsMatchTheCpuIncludingGradients) {
  NG_REQUIRE_GPU();
  const std::vector<double> abar = models::Diffusion(models::BetaSchedule::linear, 1000).alpha_bars();
  const Tensor mu = test::uniform({7, 13}, 40, -1, 1, DType::f32), lv = test::uniform({7, 13}, 41, -3, 1, DType::f32);
  Generator gc(5, 1), gg(5, 1);
  Tensor mc = mu.clone().requires_grad_(), lc = lv.clone().requires_grad_();
  Tensor mg = mu.to(test::gpu()).requires_grad_(), lg = lv.to(test::gpu()).requires_grad_();
  const GaussianSample sc = sample_gaussian(mc, lc, gc), sg = sample_gaussian(mg, lg, gg);
  expect_twin(sg.z, sc.z, "z");
  sum(sc.z * sc.z).backward();
  sum(sg.z * sg.z).backward();
  expect_twin(mg.grad(), mc.grad(), "d mu");
  expect_twin(lg.grad(), lc.grad(), "d logvar");

  const Tensor x0 = test::uniform({6, 1, 5, 5}, 42, -1, 1, DType::f32);
  const Tensor t = from_vector(std::vector<float>{1, 1000, 3, 500, 42, 999}, {6});
  const NoisedSample qc = q_sample(x0, t, abar, gc), qg = q_sample(x0.to(test::gpu()), t.to(test::gpu()), abar, gg);
  expect_twin(qg.x_t, qc.x_t, "q_sample");
  const Tensor e = test::uniform({6, 1, 5, 5}, 43, -1, 1, DType::f32);
  const models::Diffusion diffusion(models::BetaSchedule::linear, 1000);
  const kernels::PSampleCoefficients<double> pc = diffusion.p_sample_coefficients(500, 499, true);
  expect_twin(p_sample(qg.x_t, e.to(test::gpu()), pc, gg), p_sample(qc.x_t, e, pc, gc), "p_sample");
  const kernels::DDIMCoefficients<double> dc = diffusion.ddim_coefficients(500, 400, 0.1, true);
  expect_twin(ddim_step(qg.x_t, e.to(test::gpu()), dc, gg), ddim_step(qc.x_t, e, dc, gc), "ddim_step");
  EXPECT_EQ(gc.offset(), gg.offset());
}

// The DDPM step's device side: timesteps drawn on the GPU, each image's
// coefficients gathered from the GPU table, the time embedding computed
// there. The steps and the table's rows are the CPU's bits; the embedding's
// sin and cos are CUDA's double functions (within 2 double ulps), so after
// rounding to float32 it may differ by one float32 ulp.
TEST(CudaFused, TheDdpmStepsDeviceSideMatchesTheCpu) {
  NG_REQUIRE_GPU();
  const models::Diffusion diffusion(models::BetaSchedule::linear, 1000);
  Generator gc(7, 3), gg(7, 3);
  const Tensor tc = diffusion.sample_timesteps(257, gc), tg = diffusion.sample_timesteps(257, gg, test::gpu());
  EXPECT_EQ(tg.device(), test::gpu());
  expect_bitwise<double>(tg, tc, "timesteps");
  EXPECT_EQ(gc.offset(), gg.offset());

  for (DType dt : {DType::f32, DType::f64}) {
    const Tensor x0 = test::uniform({257, 1, 4, 5}, 46, -1, 1, dt);
    expect_bitwise<double>(diffusion.q_sample_table(dt, test::gpu()).to(DType::f64),
                           diffusion.q_sample_table(dt, Device::cpu()).to(DType::f64), "table");
    const NoisedSample qc = q_sample(x0, tc, diffusion.q_sample_table(dt, Device::cpu()), gc);
    const NoisedSample qg = q_sample(x0.to(test::gpu()), tg, diffusion.q_sample_table(dt, test::gpu()), gg);
    expect_twin(qg.eps, qc.eps, "q_sample eps");
    expect_twin(qg.x_t, qc.x_t, "q_sample x_t");
    EXPECT_EQ(gc.offset(), gg.offset());
  }

  const Tensor ec = models::timestep_embedding(tc, models::timestep_frequencies(64, Device::cpu()));
  const Tensor eg = models::timestep_embedding(tg, models::timestep_frequencies(64, test::gpu()));
  EXPECT_EQ(eg.device(), test::gpu());
  test::expect_close(eg.to(Device::cpu()), ec, 1e-7, 1.2e-7);
}

// ---- Adam ------------------------------------------------------------------------------

namespace {

struct AdamCase {
  kernels::AdamStep step;
  const char* name;
};

const AdamCase kAdamCases[] = {
    {{1e-3, 0.9, 0.999, 1e-8, 0.0, false, 1}, "adam"},
    {{3e-2, 0.5, 0.99, 1e-6, 0.1, false, 1}, "adam + L2"},
    {{1e-2, 0.9, 0.999, 1e-8, 0.05, true, 1}, "adamw"},
};

}  // namespace

TEST(CudaAdam, SingleTensorIsBitIdenticalAfterSeveralSteps) {
  NG_REQUIRE_GPU();
#ifdef NANOGEN_WITH_CUDA
  for (const AdamCase& c : kAdamCases) {
    for (DType dt : {DType::f32, DType::f64}) {
      for (int64_t n : kSizes) {
        for (int64_t shift : {0, 1}) {
          Tensor p = test::uniform({n}, 50, -1, 1, dt), m = zeros({n}, TensorOptions{}.with_dtype(dt)), v = zeros_like(m);
          Tensor pg = on_gpu_view(p, shift), mg = on_gpu_view(m, shift), vg = on_gpu_view(v, shift);
          for (int64_t step = 1; step <= 5; ++step) {
            const Tensor g = test::uniform({n}, uint64_t(60 + step), -1, 1, dt);
            kernels::AdamStep s = c.step;
            s.step = step;
            cpu::adam_step(s, p, g, m, v);
            cuda::adam_step(s, pg, on_gpu_view(g, shift), mg, vg);
          }
          SCOPED_TRACE(c.name);
          if (dt == DType::f32) {
            expect_bitwise<float>(pg, p, "p");
            expect_bitwise<float>(mg, m, "m");
            expect_bitwise<float>(vg, v, "v");
          } else {
            expect_bitwise<double>(pg, p, "p");
            expect_bitwise<double>(mg, m, "m");
            expect_bitwise<double>(vg, v, "v");
          }
        }
      }
    }
  }
#endif
}

// The multi-tensor launch's chunk map and argument bytes are host code
// (kernels/multi_tensor.h): checked without a GPU. Every element of every
// tensor must belong to exactly one chunk.
TEST(CudaAdamHost, ChunkMapCoversEveryElementOnce) {
#ifdef NANOGEN_WITH_CUDA
  constexpr int64_t C = kernels::kMultiTensorChunk;
  const int64_t sizes[] = {0, 1, C - 1, C, C + 1, 3 * 4096 + 7};
  std::vector<kernels::AdamTensor> tensors;
  for (int64_t n : sizes) tensors.push_back({nullptr, nullptr, nullptr, nullptr, n});
  const std::vector<kernels::TensorChunk> chunks = kernels::chunk_map({std::begin(sizes), std::end(sizes)});
  std::vector<int64_t> covered(std::size(sizes), 0);
  for (size_t b = 0; b < chunks.size(); ++b) {
    const kernels::TensorChunk c = chunks[b];
    ASSERT_GE(c.tensor, 0);
    ASSERT_LT(size_t(c.tensor), std::size(sizes));
    const int64_t begin = int64_t(c.index) * C;
    ASSERT_LT(begin, sizes[c.tensor]) << "an empty chunk for tensor " << c.tensor;
    covered[size_t(c.tensor)] += std::min(sizes[c.tensor], begin + C) - begin;
    if (b > 0) {  // in order, no repeats: (tensor, index) strictly increasing
      const kernels::TensorChunk p = chunks[b - 1];
      EXPECT_TRUE(p.tensor < c.tensor || (p.tensor == c.tensor && p.index + 1 == c.index)) << "chunk " << b;
    }
  }
  for (size_t k = 0; k < std::size(sizes); ++k) EXPECT_EQ(covered[k], sizes[k]) << "tensor " << k;
  // The launch's argument bytes hold the tensors, then the same chunk map.
  const kernels::MultiTensorArguments args = kernels::multi_tensor_arguments(tensors);
  ASSERT_EQ(size_t(args.chunks), chunks.size());
  ASSERT_EQ(args.chunks_offset % 16, 0u);
  ASSERT_GE(args.chunks_offset, tensors.size() * sizeof(kernels::AdamTensor));
  ASSERT_EQ(args.bytes.size(), args.chunks_offset + chunks.size() * sizeof(kernels::TensorChunk));
  for (size_t k = 0; k < tensors.size(); ++k) {
    kernels::AdamTensor t;
    std::memcpy(&t, args.bytes.data() + k * sizeof(t), sizeof(t));
    EXPECT_EQ(t.n, tensors[k].n) << "tensor " << k;
  }
  for (size_t b = 0; b < chunks.size(); ++b) {
    kernels::TensorChunk c;
    std::memcpy(&c, args.bytes.data() + args.chunks_offset + b * sizeof(c), sizeof(c));
    EXPECT_TRUE(c.tensor == chunks[b].tensor && c.index == chunks[b].index) << "chunk " << b;
  }
#else
  GTEST_SKIP() << "this build has no CUDA backend";
#endif
}

// Many tensors of awkward sizes (smaller than a chunk, one past a chunk, an
// odd prime, a misaligned view) in one launch, against the CPU one by one.
TEST(CudaAdam, MultiTensorIsBitIdenticalAfterSeveralSteps) {
  NG_REQUIRE_GPU();
#ifdef NANOGEN_WITH_CUDA
  const int64_t sizes[] = {1, 3, 4096, 4097, 8192, 10007, 123457, 5};
  for (const AdamCase& c : kAdamCases) {
    for (DType dt : {DType::f32, DType::f64}) {
      std::vector<cuda::AdamTensors> cpu_state, gpu_state;
      for (size_t k = 0; k < std::size(sizes); ++k) {
        const int64_t n = sizes[k], shift = k % 3 == 2 ? 1 : 0;
        const Tensor p = test::uniform({n}, 70 + k, -1, 1, dt), z = zeros({n}, TensorOptions{}.with_dtype(dt));
        cpu_state.push_back({p.clone(), Tensor(), z.clone(), z.clone()});
        gpu_state.push_back({on_gpu_view(p, shift), Tensor(), on_gpu_view(z, shift), on_gpu_view(z, shift)});
      }
      for (int64_t step = 1; step <= 4; ++step) {
        kernels::AdamStep s = c.step;
        s.step = step;
        for (size_t k = 0; k < cpu_state.size(); ++k) {
          const Tensor g = test::uniform({sizes[k]}, uint64_t(100 * step + k), -1, 1, dt);
          cpu_state[k].g = g;
          gpu_state[k].g = on_gpu_view(g, int64_t(k % 2));
          cpu::adam_step(s, cpu_state[k].p, g, cpu_state[k].m, cpu_state[k].v);
        }
        cuda::adam_step_multi(s, gpu_state);
      }
      SCOPED_TRACE(c.name);
      for (size_t k = 0; k < cpu_state.size(); ++k) {
        if (dt == DType::f32) {
          expect_bitwise<float>(gpu_state[k].p, cpu_state[k].p, "p");
          expect_bitwise<float>(gpu_state[k].m, cpu_state[k].m, "m");
          expect_bitwise<float>(gpu_state[k].v, cpu_state[k].v, "v");
        } else {
          expect_bitwise<double>(gpu_state[k].p, cpu_state[k].p, "p");
          expect_bitwise<double>(gpu_state[k].m, cpu_state[k].m, "m");
          expect_bitwise<double>(gpu_state[k].v, cpu_state[k].v, "v");
        }
      }
    }
  }
#endif
}

// The EMA's multi-tensor launch against the CPU twin, tensor by tensor, on
// sizes around the chunk and misaligned views.
TEST(CudaEma, MultiTensorIsBitIdenticalAfterSeveralUpdates) {
  NG_REQUIRE_GPU();
#ifdef NANOGEN_WITH_CUDA
  const int64_t sizes[] = {1, 3, 4096, 4097, 8192, 10007, 123457, 5};
  for (DType dt : {DType::f32, DType::f64}) {
    std::vector<std::pair<Tensor, Tensor>> cpu_state, gpu_state;
    for (size_t k = 0; k < std::size(sizes); ++k) {
      const Tensor a = test::uniform({sizes[k]}, 170 + k, -1, 1, dt);
      cpu_state.emplace_back(a.clone(), Tensor());
      gpu_state.emplace_back(on_gpu_view(a, int64_t(k % 3 == 2)), Tensor());
    }
    for (int update = 0; update < 3; ++update) {
      const double decay = 0.9 + 0.03 * update;
      for (size_t k = 0; k < cpu_state.size(); ++k) {
        const Tensor v = test::uniform({sizes[k]}, uint64_t(200 * update + k), -1, 1, dt);
        cpu_state[k].second = v;
        gpu_state[k].second = on_gpu_view(v, int64_t(k % 2));
        cpu::ema_update(cpu_state[k].first, v, decay);
      }
      cuda::ema_update_multi(decay, gpu_state);
    }
    for (size_t k = 0; k < cpu_state.size(); ++k) {
      if (dt == DType::f32) expect_bitwise<float>(gpu_state[k].first, cpu_state[k].first, "average");
      else expect_bitwise<double>(gpu_state[k].first, cpu_state[k].first, "average");
    }
  }
#endif
}

// A training step passes the same tensors to the EMA every step: their
// argument bytes are uploaded once (engine/cuda/argument_cache.h), and a
// tensor at a new address makes new bytes, which are uploaded and used.
TEST(CudaEma, TheSameTensorsUploadTheirArgumentsOnce) {
  NG_REQUIRE_GPU();
#ifdef NANOGEN_WITH_CUDA
  const int64_t sizes[] = {5, 4097, 100003};
  std::vector<std::pair<Tensor, Tensor>> cpu_state, gpu_state;
  for (size_t k = 0; k < std::size(sizes); ++k) {
    const Tensor a = test::uniform({sizes[k]}, 300 + k, -1, 1, DType::f32);
    cpu_state.emplace_back(a.clone(), Tensor());
    gpu_state.emplace_back(a.to(test::gpu()), empty({sizes[k]}, TensorOptions{}.with_device(test::gpu())));
  }
  const int64_t before = cuda::multi_tensor_argument_uploads();
  for (int update = 0; update < 6; ++update) {
    if (update == 4) gpu_state[1].second = empty({sizes[1]}, TensorOptions{}.with_device(test::gpu()));  // moved
    for (size_t k = 0; k < cpu_state.size(); ++k) {
      const Tensor v = test::uniform({sizes[k]}, uint64_t(400 * update + k), -1, 1, DType::f32);
      gpu_state[k].second.copy_(v.to(test::gpu()));
      cpu::ema_update(cpu_state[k].first, v, 0.99);
    }
    cuda::ema_update_multi(0.99, gpu_state);
  }
  // Once at the first update and once after the move; the moved tensor's
  // old bytes were never used for it (the averages say so).
  EXPECT_EQ(cuda::multi_tensor_argument_uploads() - before, 2);
  for (size_t k = 0; k < cpu_state.size(); ++k) expect_bitwise<float>(gpu_state[k].first, cpu_state[k].first, "average");
#endif
}

// The optimizer's fast path (all CUDA parameters in one launch) against the
// CPU optimizer, fed the same gradients.
TEST(CudaAdam, OptimizerFastPathMatchesTheCpuOptimizer) {
  NG_REQUIRE_GPU();
  Generator init_cpu(3), init_gpu(3);  // the same initial weights
  nn::Linear cpu_layer(37, 11, true, init_cpu), gpu_layer(37, 11, true, init_gpu);
  gpu_layer.to(test::gpu());
  optim::Adam cpu_opt(cpu_layer.named_parameters(), optim::adamw_options(1e-2, 0.1));
  optim::Adam gpu_opt(gpu_layer.named_parameters(), optim::adamw_options(1e-2, 0.1));
  for (int step = 0; step < 3; ++step) {
    const auto cp = cpu_layer.named_parameters(), gp = gpu_layer.named_parameters();
    for (size_t k = 0; k < cp.size(); ++k) {
      const Tensor g = test::uniform(cp[k].second.shape(), uint64_t(10 * step + k), -1, 1, DType::f32);
      Tensor(cp[k].second).set_grad(g);
      Tensor(gp[k].second).set_grad(g.to(test::gpu()));
    }
    cpu_opt.step();
    gpu_opt.step();
  }
  const auto cp = cpu_layer.named_parameters(), gp = gpu_layer.named_parameters();
  for (size_t k = 0; k < cp.size(); ++k) expect_bitwise<float>(gp[k].second, cp[k].second, cp[k].first.c_str());
}

// Clipping on the GPU (kernels/grad_clip.cu, three launches for all the
// gradients) against the host rule: the norm within the rounding of the
// host's float32 sums (the GPU sums the squares in double), and each
// gradient scaled by exactly float(max_norm / (norm + 1e-6)) from the norm
// it returns, or left alone at or below the bound. Sizes span one chunk
// (4096 elements), several, and an empty tensor.
TEST(CudaClip, ThreeLaunchClipMatchesTheHostRule) {
  NG_REQUIRE_GPU();
  const std::vector<Shape> shapes = {{3, 5}, {7}, {3, 4100}, {0}, {64, 64, 3, 3}};
  std::vector<Tensor> grads;
  for (size_t k = 0; k < shapes.size(); ++k)
    grads.push_back(test::uniform(shapes[k], 200 + k, -2, 2, DType::f32));
  auto params_with = [&](Device device) {
    std::vector<Tensor> params;
    for (const Tensor& g : grads) {
      Tensor p = zeros(g.shape(), g.options().with_device(device)).requires_grad_();
      p.set_grad(g.to(device).clone());
      params.push_back(p);
    }
    return params;
  };
  const double host_norm = optim::grad_norm(params_with(Device::cpu()));
  for (double max_norm : {0.5, host_norm * 2}) {
    SCOPED_TRACE("max_norm " + std::to_string(max_norm));
    std::vector<Tensor> on_gpu = params_with(test::gpu());
    const double norm = optim::clip_grad_norm(on_gpu, max_norm).item();
    EXPECT_NEAR(norm, host_norm, 1e-6 * host_norm);
    const float scale = norm > max_norm ? float(max_norm / (norm + 1e-6)) : 1.0f;
    for (size_t k = 0; k < grads.size(); ++k)
      expect_bitwise<float>(on_gpu[k].grad(), grads[k] * double(scale), "scaled gradient");
  }
  // The same bits on a second run (every sum in a fixed order).
  std::vector<Tensor> again = params_with(test::gpu()), once_more = params_with(test::gpu());
  EXPECT_EQ(optim::clip_grad_norm(again, 0.5).item(), optim::clip_grad_norm(once_more, 0.5).item());
}
