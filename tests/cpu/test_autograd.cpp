// The autograd engine: the graph walk, accumulation, modes and its errors.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "engine/nanogen.h"
#include "support/gradcheck.h"

using namespace ng;

static TensorOptions f64() { return TensorOptions{}.with_dtype(DType::f64).with_requires_grad(); }

TEST(Autograd, ChainRuleByHand) {
  Tensor x = from_vector(std::vector<double>{2.0}, {1}, f64());
  Tensor y = x * x * 3.0 + exp(x);  // dy/dx = 6x + e^x
  y.backward(ones({1}, TensorOptions{}.with_dtype(DType::f64)));
  EXPECT_NEAR(x.grad().item(), 12.0 + std::exp(2.0), 1e-12);
}

TEST(Autograd, GradientsAccumulateAcrossBackwardCalls) {
  Tensor x = from_vector(std::vector<double>{1.0, 2.0}, {2}, f64());
  sum(x * 2.0).backward();
  sum(x * 3.0).backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{5.0, 5.0}));
  x.zero_grad();
  EXPECT_FALSE(x.grad().defined());
}

TEST(Autograd, SharedSubexpressionSumsBothPaths) {
  Tensor x = from_vector(std::vector<double>{3.0}, {}, f64());
  Tensor a = x * 2.0;
  Tensor y = a * a + a;  // y = 4x^2 + 2x, dy/dx = 8x + 2
  y.backward();
  EXPECT_DOUBLE_EQ(x.grad().item(), 26.0);
}

TEST(Autograd, LeafGradientsDoNotAlias) {
  // add's backward returns the same tensor for both inputs; writing into
  // one leaf's grad must not change the other's.
  Tensor a = ones({3}, f64()), b = ones({3}, f64());
  sum(a + b).backward();
  a.grad().fill_(7);
  EXPECT_EQ(b.grad().to_vector<double>(), (std::vector<double>{1, 1, 1}));
}

namespace {

// y = x (an identity op) whose backward returns make(g): lets a test choose
// what the gradient delivered to the leaf x is.
Tensor identity_with_backward(const Tensor& x, std::function<Tensor(const Tensor&)> make) {
  return record("TestBackward", x.detach().clone(), {x},
                [make = std::move(make)](const Tensor& g) { return std::vector<Tensor>{make(g)}; });
}

}  // namespace

// A leaf's first gradient becomes its .grad without a copy when nothing else
// holds it: the usual case of a weight's gradient. Each step saves a copy of
// every parameter's gradient (on a GPU, a launch each).
TEST(Autograd, AFreshGradientIsAdoptedNotCopied) {
  Tensor x = ones({4}, f64());
  const void* made = nullptr;
  identity_with_backward(x, [&](const Tensor& g) {
    Tensor fresh = g * 2.0;
    made = fresh.raw_data();
    return fresh;
  }).backward(ones({4}, TensorOptions{}.with_dtype(DType::f64)));
  EXPECT_EQ(x.grad().raw_data(), made);
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{2, 2, 2, 2}));
}

// ... and is copied whenever it is not the gradient's only handle, or not dense.
TEST(Autograd, AGradientSomethingElseHoldsIsCopied) {
  const TensorOptions plain = TensorOptions{}.with_dtype(DType::f64);
  {  // kept by the backward (as a cache, a trace or a saved tensor would)
    Tensor x = ones({3}, f64()), kept;
    identity_with_backward(x, [&](const Tensor& g) { return kept = g * 3.0; }).backward(ones({3}, plain));
    EXPECT_NE(x.grad().raw_data(), kept.raw_data());
    x.grad().fill_(7);
    EXPECT_EQ(kept.to_vector<double>(), (std::vector<double>{3, 3, 3}));
  }
  {  // a full-size alias of memory something else holds (another handle on the same storage)
    Tensor x = ones({3}, f64()), kept;
    identity_with_backward(x, [&](const Tensor& g) {
      kept = g * 3.0;
      return kept.detach();
    }).backward(ones({3}, plain));
    EXPECT_NE(x.grad().raw_data(), kept.raw_data());
    x.grad().fill_(7);
    EXPECT_EQ(kept.to_vector<double>(), (std::vector<double>{3, 3, 3}));
  }
  {  // the caller's own gradient, delivered to a leaf output
    Tensor x = ones({3}, f64());
    const Tensor g = full({3}, 5.0, plain);
    x.backward(g);
    EXPECT_NE(x.grad().raw_data(), g.raw_data());
    x.grad().fill_(7);
    EXPECT_EQ(g.to_vector<double>(), (std::vector<double>{5, 5, 5}));
  }
  {  // a stride-0 expansion becomes a dense .grad
    Tensor x = ones({3}, f64());
    identity_with_backward(x, [&](const Tensor&) { return full({1}, 4.0, plain).expand({3}); })
        .backward(ones({3}, plain));
    EXPECT_TRUE(x.grad().is_contiguous());
    x.grad().fill_(1);  // would write one element three times if it were still the expansion
    EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{1, 1, 1}));
  }
  {  // a view into a larger buffer is not kept as .grad (the buffer would live on with it)
    Tensor x = ones({3}, f64());
    identity_with_backward(x, [&](const Tensor&) { return full({6}, 2.0, plain).narrow(0, 3, 3); })
        .backward(ones({3}, plain));
    EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{2, 2, 2}));
    EXPECT_EQ(x.grad().impl()->storage->nbytes(), 3 * sizeof(double));
  }
}

TEST(Autograd, NonScalarBackwardNeedsAGradient) {
  Tensor x = ones({2, 2}, f64());
  Tensor y = x * 2.0;
  EXPECT_THROW(y.backward(), Error);
  y.backward(full({2, 2}, 0.5, TensorOptions{}.with_dtype(DType::f64)));
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{1, 1, 1, 1}));
  EXPECT_THROW((x * 2.0).backward(ones({3}, TensorOptions{}.with_dtype(DType::f64))), Error);
}

TEST(Autograd, SecondBackwardThroughFreedGraphIsAnError) {
  Tensor x = ones({2}, f64());
  Tensor y = sum(exp(x));
  y.backward();
  try {
    y.backward();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("retain_graph"), std::string::npos) << e.what();
  }
  Tensor z = sum(exp(x));
  z.backward({}, /*retain_graph=*/true);
  z.backward();
  EXPECT_NEAR(x.grad().to_vector<double>()[0], 3 * std::exp(1.0), 1e-12);
}

TEST(Autograd, NoGradAndDetachStopRecording) {
  Tensor x = ones({2}, f64());
  {
    NoGradGuard guard;
    Tensor y = x * 2.0;
    EXPECT_FALSE(y.requires_grad());
    EXPECT_TRUE(y.is_leaf());
  }
  Tensor d = x.detach();
  EXPECT_FALSE(d.requires_grad());
  EXPECT_TRUE(d.shares_storage(x));
  Tensor y = x * 2.0;
  EXPECT_TRUE(y.requires_grad());
  EXPECT_FALSE(y.is_leaf());
  EXPECT_EQ(y.grad_fn()->name, "MulScalarBackward");
  EXPECT_THROW(sum(d * 2.0).backward(), Error);  // nothing requires grad
}

TEST(Autograd, ModifyingASavedTensorInPlaceIsAnError) {
  Tensor x = ones({3}, f64());
  Tensor a = x * 1.0;
  Tensor y = sum(exp(a));  // exp saves its output; mul by a saves a
  Tensor z = sum(a * a);
  a.fill_(2.0);
  try {
    z.backward();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("modified in place"), std::string::npos) << e.what();
  }
  (void)y;
}

TEST(Autograd, InPlaceOnALeafThatRequiresGradIsRefused) {
  Tensor x = ones({3}, f64());
  EXPECT_THROW(x.fill_(0), Error);
  NoGradGuard guard;
  x.fill_(0);  // optimizer-style update
  EXPECT_EQ(x.to_vector<double>()[0], 0.0);
}

TEST(Autograd, DeepGraphsNeitherRecurseNorOverflow) {
  // 200k nodes: a recursive walk or a recursive destructor would overflow.
  Tensor x = ones({1}, f64());
  Tensor y = x;
  for (int i = 0; i < 200000; ++i) y = y + 1e-6;
  sum(y).backward();
  EXPECT_EQ(x.grad().item(), 1.0);
}

TEST(Autograd, GradOfNonLeafAndUnusedInputs) {
  Tensor x = from_vector(std::vector<double>{1.5}, {}, f64());
  Tensor w = from_vector(std::vector<double>{4.0}, {}, f64());
  Tensor h = x * x;
  Tensor y = h * 3.0;
  std::vector<Tensor> g = autograd::grad({y}, {h, x});
  EXPECT_DOUBLE_EQ(g[0].item(), 3.0);
  EXPECT_DOUBLE_EQ(g[1].item(), 9.0);
  EXPECT_FALSE(x.grad().defined());  // grad() leaves .grad alone
  Tensor y2 = x * 2.0;
  EXPECT_THROW(autograd::grad({y2}, {w}), Error);
  Tensor y3 = x * 2.0;
  EXPECT_EQ(autograd::grad({y3}, {w}, {}, false, false, true)[0].item(), 0.0);
}

TEST(Autograd, DoubleBackwardThroughCreateGraph) {
  // f = x^3: f' = 3x^2, f'' = 6x.
  Tensor x = from_vector(std::vector<double>{2.0}, {}, f64());
  Tensor f = x * x * x;
  Tensor g = autograd::grad({f}, {x}, {}, false, /*create_graph=*/true)[0];
  EXPECT_DOUBLE_EQ(g.item(), 12.0);
  EXPECT_TRUE(g.requires_grad());
  Tensor gg = autograd::grad({g}, {x})[0];
  EXPECT_DOUBLE_EQ(gg.item(), 12.0);
}

TEST(Autograd, ViewsPropagateGradients) {
  Tensor x = test::uniform({3, 4}, 5).requires_grad_();
  test::expect_gradcheck([](const std::vector<Tensor>& in) { return in[0].t().reshape({2, 6}) * 2.0; }, {x});
  test::expect_gradcheck([](const std::vector<Tensor>& in) { return in[0].slice(1, 1, 4, 2); }, {x});
  test::expect_gradcheck([](const std::vector<Tensor>& in) { return in[0].select(0, 2); }, {x});
  test::expect_gradcheck([](const std::vector<Tensor>& in) { return in[0].unsqueeze(1).expand({3, 5, 4}); }, {x});
  test::expect_gradcheck([](const std::vector<Tensor>& in) { return in[0].permute({1, 0}).flatten(); }, {x});
  test::expect_gradcheck([](const std::vector<Tensor>& in) { return in[0].narrow(0, 1, 2).clone(); }, {x});
  test::expect_gradgradcheck([](const std::vector<Tensor>& in) { return square(in[0].slice(1, 0, 4, 3)); }, {x});
}

TEST(Autograd, GraphsAreFreedWithoutBackward) {
  // Ops that save their own output (exp, sigmoid, div, ...) must not make
  // the output and its node own each other.
  std::weak_ptr<TensorImpl> out_impl;
  std::weak_ptr<Node> node;
  {
    Tensor x = ones({3}, f64());
    Tensor y = sigmoid(exp(x) / (x + 1.0));
    out_impl = y.impl();
    node = y.grad_fn();
  }
  EXPECT_TRUE(out_impl.expired());
  EXPECT_TRUE(node.expired());
}

TEST(Autograd, SavedOutputsStillGiveSecondDerivatives) {
  // d2/dx2 exp(x) = exp(x) flows through the saved output of exp.
  Tensor x = from_vector(std::vector<double>{0.3}, {}, f64());
  Tensor g = autograd::grad({exp(x)}, {x}, {}, false, true)[0];
  EXPECT_NEAR(autograd::grad({g}, {x})[0].item(), std::exp(0.3), 1e-12);
}
