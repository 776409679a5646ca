// Optimizers against PyTorch 1.13's (reference values printed by torch.optim
// on the same problem), EMA, schedules and gradient clipping.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/nanogen.h"
#include "engine/nn/layers.h"
#include "engine/optim/ema.h"
#include "engine/optim/optimizer.h"
#include "engine/optim/schedule.h"
#include "support/gradcheck.h"

using namespace ng;

namespace {

// f(p) = sum(c p^3 / 3 + p), float64, five steps of an optimizer.
template <class MakeOpt>
std::vector<double> run(MakeOpt make) {
  const TensorOptions f64 = TensorOptions{}.with_dtype(DType::f64);
  Tensor p = from_vector(std::vector<double>{1.0, -2.0, 3.0, 0.5}, {4}, f64.with_requires_grad());
  const Tensor c = from_vector(std::vector<double>{1.0, 0.5, 2.0, -1.0}, {4}, f64);
  auto opt = make(nn::NamedTensors{{"p", p}});
  for (int i = 0; i < 5; ++i) {
    opt.zero_grad();
    sum(c * p * p * p / 3.0 + p).backward();
    opt.step();
  }
  return p.to_vector<double>();
}

void expect_near_all(const std::vector<double>& a, const std::vector<double>& b, double tol) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], tol) << "element " << i;
}

}  // namespace

TEST(Optim, SgdMatchesPyTorch) {
  expect_near_all(run([](nn::NamedTensors p) { return optim::SGD(p, {.lr = 0.05}); }),
                  {0.5791819215086158, -2.938844372414996, 0.902600909163334, 0.29521333984747883}, 1e-12);
  expect_near_all(
      run([](nn::NamedTensors p) { return optim::SGD(p, {.lr = 0.05, .momentum = 0.9, .weight_decay = 0.01}); }),
      {-0.09989959981190624, -4.580726475199318, -3.3321369400528105, -0.04311335729318994}, 1e-12);
  expect_near_all(run([](nn::NamedTensors p) { return optim::SGD(p, {.lr = 0.05, .momentum = 0.9, .nesterov = true}); }),
                  {-0.27900332034994757, -6.286936135805602, -3.5673307021632072, -0.22340936685312623}, 1e-12);
}

TEST(Optim, AdamAndAdamWMatchPyTorch) {
  expect_near_all(run([](nn::NamedTensors p) { return optim::Adam(p, {.lr = 0.1}); }),
                  {0.5061128014445503, -2.501930565863215, 2.503750946924439, -0.002027461328816871}, 1e-12);
  expect_near_all(
      run([](nn::NamedTensors p) { return optim::Adam(p, {.lr = 0.1, .beta1 = 0.5, .weight_decay = 0.1}); }),
      {0.5255708282376947, -2.516033243940159, 2.5169796880651747, -0.014695942414436947}, 1e-12);
  expect_near_all(run([](nn::NamedTensors p) { return optim::Adam(p, optim::adamw_options(0.1, 0.1)); }),
                  {0.4676230157913506, -2.3937458643680745, 2.3680588387425017, -0.01661305990737151}, 1e-12);
}

TEST(Optim, StateRoundTripResumesExactly) {
  const TensorOptions f64 = TensorOptions{}.with_dtype(DType::f64);
  auto make_param = [&] { return from_vector(std::vector<double>{1.0, -2.0}, {2}, f64.with_requires_grad()); };
  auto loss = [](const Tensor& p) { return sum(p * p * p + p); };
  // Uninterrupted: 6 steps.
  Tensor a = make_param();
  optim::Adam opt_a({{"p", a}}, {.lr = 0.05});
  for (int i = 0; i < 6; ++i) {
    opt_a.zero_grad();
    loss(a).backward();
    opt_a.step();
  }
  // Interrupted after 3: a fresh optimizer loads the state and does 3 more.
  Tensor b = make_param();
  optim::Adam opt_b({{"p", b}}, {.lr = 0.05});
  for (int i = 0; i < 3; ++i) {
    opt_b.zero_grad();
    loss(b).backward();
    opt_b.step();
  }
  const nn::NamedTensors saved = opt_b.state();
  EXPECT_EQ(saved.size(), 3u);  // step, p.exp_avg, p.exp_avg_sq
  optim::Adam opt_c({{"p", b}}, {.lr = 0.05});
  opt_c.load_state(saved);
  EXPECT_EQ(opt_c.steps(), 3);
  for (int i = 0; i < 3; ++i) {
    opt_c.zero_grad();
    loss(b).backward();
    opt_c.step();
  }
  EXPECT_EQ(a.to_vector<double>(), b.to_vector<double>());
}

TEST(Optim, ClipGradNorm) {
  Tensor a = zeros({2}).requires_grad_(), b = zeros({1}).requires_grad_();
  a.set_grad(from_vector(std::vector<float>{3, 0}, {2}));
  b.set_grad(from_vector(std::vector<float>{4}, {1}));
  EXPECT_NEAR(optim::clip_grad_norm({a, b}, 1.0).item(), 5.0, 1e-6);
  EXPECT_NEAR(a.grad().to_vector<float>()[0], 0.6, 1e-6);
  EXPECT_NEAR(b.grad().to_vector<float>()[0], 0.8, 1e-6);
  EXPECT_NEAR(optim::clip_grad_norm({a, b}, 10.0).item(), 1.0, 1e-5);  // below the bound: unchanged
  EXPECT_NEAR(a.grad().to_vector<float>()[0], 0.6, 1e-6);
}

// The device-side clip scales exactly as the host rule: by float(max_norm /
// (norm + 1e-6)) above the bound, and leaves the bits alone at or below it.
TEST(Optim, ClipGradNormScalesByThePytorchRuleBitForBit) {
  const Tensor g1 = test::uniform({3, 5}, 90, -2, 2).to(DType::f32), g2 = test::uniform({7}, 91, -2, 2).to(DType::f32);
  const double norm = std::sqrt(double(sum(square(g1)).item()) + double(sum(square(g2)).item()));
  for (double max_norm : {0.5, norm, 2 * norm}) {
    Tensor a = zeros({3, 5}, g1.options()).requires_grad_(), b = zeros({7}, g2.options()).requires_grad_();
    a.set_grad(g1.clone());
    b.set_grad(g2.clone());
    EXPECT_EQ(optim::clip_grad_norm({a, b}, max_norm).item(), norm);
    const float scale = max_norm < norm ? float(max_norm / (norm + 1e-6)) : 1.0f;
    EXPECT_EQ(a.grad().to_vector<float>(), (g1 * double(scale)).to_vector<float>()) << "max_norm " << max_norm;
    EXPECT_EQ(b.grad().to_vector<float>(), (g2 * double(scale)).to_vector<float>()) << "max_norm " << max_norm;
  }
}

TEST(Optim, GradNormIsTheJointNormAndLeavesTheGradientsAlone) {
  Tensor a = zeros({2}).requires_grad_(), b = zeros({1}).requires_grad_(), none = zeros({3}).requires_grad_();
  a.set_grad(from_vector(std::vector<float>{3, 0}, {2}));
  b.set_grad(from_vector(std::vector<float>{-4}, {1}));
  EXPECT_NEAR(optim::grad_norm({a, b, none}), 5.0, 1e-6);  // `none` has no gradient: it counts 0
  EXPECT_EQ(b.grad().to_vector<float>()[0], -4.0f);
  EXPECT_EQ(optim::grad_norm({none}), 0.0);
}

// The EMA's one-pass update gives the bits of the composite it replaced,
// mul_(s, d); add_(s, p, 1 - d), over warm-up decays, in float32 and float64,
// for a contiguous parameter (the fused loop) and a strided view (the
// composite itself).
TEST(Optim, EmaUpdateIsTheCompositeBitForBit) {
  for (DType dt : {DType::f32, DType::f64}) {
    struct Two : nn::Module {
      Tensor a, b;
      explicit Two(DType dt)
          : a(test::uniform({3, 17}, 80, -1, 1).to(dt)), b(test::uniform({5, 4}, 81, -1, 1).to(dt).transpose(0, 1)) {
        register_parameter("a", a);
        register_parameter("b", b);
      }
    } m(dt);
    ASSERT_FALSE(m.b.is_contiguous());
    optim::EMA ema(m, 0.999, /*warmup=*/true);
    std::vector<Tensor> expected{m.a.detach().clone(), m.b.detach().clone()};
    for (int step = 0; step < 4; ++step) {
      {
        NoGradGuard g;
        Tensor(m.a).copy_(test::uniform({3, 17}, uint64_t(90 + step), -1, 1).to(dt));
        Tensor(m.b).copy_(test::uniform({4, 5}, uint64_t(95 + step), -1, 1).to(dt));
      }
      const double d = ema.current_decay();
      for (size_t k = 0; k < 2; ++k) {
        mul_(expected[k], d);
        add_(expected[k], k == 0 ? m.a.detach() : m.b.detach(), 1.0 - d);
      }
      ema.update(m);
    }
    const nn::NamedTensors state = ema.state();
    for (size_t k = 0; k < 2; ++k) {
      const Tensor& got = state[k + 1].second;  // after "ema.updates"
      if (dt == DType::f32) EXPECT_EQ(got.to_vector<float>(), expected[k].to_vector<float>()) << state[k + 1].first;
      else EXPECT_EQ(got.to_vector<double>(), expected[k].to_vector<double>()) << state[k + 1].first;
    }
  }
}

TEST(Optim, Schedules) {
  optim::Schedule s{optim::Schedule::Kind::cosine, 1.0, 10, 110, 0.1};
  EXPECT_DOUBLE_EQ(s.at(0), 0.1);
  EXPECT_DOUBLE_EQ(s.at(9), 1.0);
  EXPECT_DOUBLE_EQ(s.at(10), 1.0);
  EXPECT_NEAR(s.at(60), 0.55, 1e-12);  // half way: the mean of 1.0 and 0.1
  EXPECT_DOUBLE_EQ(s.at(110), 0.1);
  EXPECT_DOUBLE_EQ(s.at(1000), 0.1);
  optim::Schedule c{optim::Schedule::Kind::constant, 0.5, 0, 0, 0};
  EXPECT_DOUBLE_EQ(c.at(12345), 0.5);
  EXPECT_THROW(optim::Schedule::parse("linear-ish"), Error);
}

namespace {
struct Affine : nn::Module {
  Tensor w = zeros({2}), running = zeros({1});
  Affine() {
    register_parameter("w", w);
    register_buffer("running", running);
  }
};
}  // namespace

TEST(Optim, EmaAveragesWithWarmup) {
  Affine m;
  optim::EMA ema(m, 0.9, /*warmup=*/true);
  EXPECT_DOUBLE_EQ(ema.current_decay(), 0.1);  // (1 + 0) / (10 + 0)
  {
    NoGradGuard g;
    m.w.fill_(1.0);
    m.running.fill_(7.0);
  }
  ema.update(m);  // shadow = 0.1 * 0 + 0.9 * 1
  Affine copy;
  ema.copy_to(copy);
  EXPECT_NEAR(copy.w.to_vector<float>()[0], 0.9, 1e-6);
  EXPECT_EQ(copy.running.to_vector<float>()[0], 7.0f);  // buffers are copied, not averaged
  EXPECT_NEAR(ema.current_decay(), 2.0 / 11.0, 1e-12);
  optim::EMA restored(m, 0.9, true);
  restored.load_state(ema.state());
  EXPECT_EQ(restored.updates(), 1);
}

// A checkpoint's optimizer state is checked before it is used: the step a
// whole number (int64_t of NaN is undefined behaviour), every tensor one this
// optimizer would have written, and the EMA's count likewise.
TEST(Optim, DamagedSavedStateIsRefusedWithItsName) {
  const TensorOptions f64 = TensorOptions{}.with_dtype(DType::f64);
  Tensor p = from_vector(std::vector<double>{1.0, -2.0}, {2}, f64.with_requires_grad());
  optim::Adam opt({{"p", p}}, {.lr = 0.05});
  sum(p * p).backward();
  opt.step();
  const nn::NamedTensors good = opt.state();
  auto with = [&](const std::string& name, const Tensor& value) {
    nn::NamedTensors s;
    bool replaced = false;
    for (const auto& [n, t] : good) {
      s.emplace_back(n, n == name ? value : t);
      replaced = replaced || n == name;
    }
    if (!replaced) s.emplace_back(name, value);
    return s;
  };
  auto message = [&](const nn::NamedTensors& s) {
    try {
      optim::Adam fresh({{"p", p}}, {.lr = 0.05});
      fresh.load_state(s);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  for (double bad : {std::nan(""), -5.0, 1e300, 2.5})
    EXPECT_NE(message(with("step", scalar_tensor(bad, f64))).find("optimizer: the saved 'step' is"), std::string::npos)
        << bad;
  EXPECT_NE(message(with("q.exp_avg", zeros({2}, f64))).find("'q.exp_avg', which is no slot"), std::string::npos);
  EXPECT_EQ(message(good), "");

  Affine m;
  optim::EMA ema(m, 0.9, true);
  nn::NamedTensors state = ema.state();
  state[0].second = scalar_tensor(-1.0, f64);
  optim::EMA restored(m, 0.9, true);
  try {
    restored.load_state(state);
    ADD_FAILURE() << "a negative EMA count was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("EMA: the saved 'ema.updates' is -1"), std::string::npos) << e.what();
  }
}
