// The numbers of docs/autograd.md, computed by the engine: the hand-traced
// expression, accumulation, the diamond, broadcasting and strides, the
// conventions at kinks, double backward, and the exercises' answers. Where
// the page prints the engine's trace, the test checks the page holds it.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "engine/nanogen.h"
#include "support/gradcheck.h"

using namespace ng;
using autograd::BackwardTrace;

namespace {

TensorOptions f64_leaf() { return TensorOptions{}.with_dtype(DType::f64).with_requires_grad(); }
Tensor scalar_leaf(double v) { return scalar_tensor(v, f64_leaf()); }
Tensor f64(const std::vector<double>& v, const Shape& shape, bool requires_grad = false) {
  return from_vector(v, shape, TensorOptions{}.with_dtype(DType::f64).with_requires_grad(requires_grad));
}
std::vector<double> values(const Tensor& t) { return t.to_vector<double>(); }

// docs/autograd.md, as the tests run (from the source tree).
std::string autograd_page() {
  std::ifstream in("docs/autograd.md");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

// Section 2: L = log(x * y + x) at x = 2, y = 3, traced node by node.
TEST(AutogradLesson, TheHandTracedExamplePrintsTheSameNumbers) {
  Tensor x = scalar_leaf(2.0), y = scalar_leaf(3.0);
  Tensor a = x * y;  // 6
  Tensor b = a + x;  // 8
  Tensor L = log(b);
  EXPECT_DOUBLE_EQ(L.item(), std::log(8.0));
  BackwardTrace trace;
  L.backward();
  const std::string printed =
      "LogBackward  received 1, sends 0.125\n"
      "AddBackward  received 0.125, sends 0.125, 0.125\n"
      "MulBackward  received 0.125, sends 0.375, 0.25\n";
  EXPECT_EQ(trace.str(), printed);
  EXPECT_EQ(x.grad().item(), 0.5);  // 0.125 through the addition + 0.375 through the product: 1/x
  EXPECT_EQ(y.grad().item(), 0.25);  // 1/(y + 1)
  EXPECT_NE(autograd_page().find(printed), std::string::npos) << "docs/autograd.md must show the trace:\n" << printed;
}

// Section 3: x * x has two edges to one leaf; the gradients add.
TEST(AutogradLesson, TwoEdgesToOneLeafAccumulate) {
  Tensor x = scalar_leaf(3.0);
  BackwardTrace trace;
  (x * x).backward();
  ASSERT_EQ(trace.steps().size(), 1u);
  EXPECT_EQ(trace.steps()[0].grad_inputs[0].item(), 3.0);  // d(x*y)/dx = y, with y the same x
  EXPECT_EQ(trace.steps()[0].grad_inputs[1].item(), 3.0);
  EXPECT_EQ(x.grad().item(), 6.0);
}

// Section 3: a = x + 1 feeds two consumers; its node runs once, after both,
// with the sum of what they sent.
TEST(AutogradLesson, TheDiamondsSharedNodeRunsOnceWithTheSum) {
  Tensor x = scalar_leaf(1.0);
  Tensor a = x + 1.0;                // 2
  Tensor L = log(a) + a * 3.0;       // dL/da = 1/2 + 3
  BackwardTrace trace;
  L.backward();
  const auto& steps = trace.steps();
  ASSERT_EQ(steps.size(), 4u);
  EXPECT_EQ(steps[0].node, "AddBackward");
  EXPECT_EQ(steps[3].node, "AddScalarBackward");  // last, once
  EXPECT_EQ(steps[3].grad_output.item(), 3.5);
  EXPECT_EQ(x.grad().item(), 3.5);
}

// Section 3: without the topological order, a chain of n diamonds would run
// its first node 2^n times; with it every node runs once.
TEST(AutogradLesson, AChainOfDiamondsRunsEachNodeOnce) {
  Tensor x = scalar_leaf(0.5);
  Tensor h = x;
  const int n = 40;
  for (int i = 0; i < n; ++i) h = sin(h) + cos(h);  // three nodes a link
  BackwardTrace trace;
  h.backward();
  EXPECT_EQ(trace.steps().size(), size_t(3 * n));
  // The chain rule by hand, link by link: d/dh (sin h + cos h) = cos h - sin h.
  double value = 0.5, derivative = 1.0;
  for (int i = 0; i < n; ++i) {
    derivative *= std::cos(value) - std::sin(value);
    value = std::sin(value) + std::cos(value);
  }
  EXPECT_NEAR(x.grad().item(), derivative, 1e-12 * std::fabs(derivative));
}

// Section 3: .grad accumulates across backward calls until it is zeroed.
TEST(AutogradLesson, GradAccumulatesUntilZeroed) {
  Tensor x = scalar_leaf(3.0);
  Tensor y = x * x;
  y.backward({}, /*retain_graph=*/true);
  EXPECT_EQ(x.grad().item(), 6.0);
  y.backward();
  EXPECT_EQ(x.grad().item(), 12.0);  // the second step's gradient on top of the first's
  x.zero_grad();
  (x * 2.0).backward();
  EXPECT_EQ(x.grad().item(), 2.0);
}

// Section 4: the broadcast input's gradient is the output gradient summed
// over the dims it was broadcast along.
TEST(AutogradLesson, BroadcastingsBackwardSumsOverTheCopies) {
  Tensor x = f64({1, 2, 3, 4, 5, 6}, {2, 3}, true);
  Tensor b = f64({10, 20, 30}, {3}, true);
  BackwardTrace trace;
  sum(x * b).backward();
  EXPECT_EQ(values(x.grad()), (std::vector<double>{10, 20, 30, 10, 20, 30}));
  EXPECT_EQ(values(b.grad()), (std::vector<double>{5, 7, 9}));  // column sums of x
  EXPECT_EQ(trace.str(),
            "SumBackward  received 1, sends [1, 1, 1, 1, 1, 1]\n"
            "MulBackward  received [1, 1, 1, 1, 1, 1], sends [10, 20, 30, 10, 20, 30], [5, 7, 9]\n");
  EXPECT_EQ(values(sum_to(f64({1, 2, 3, 4, 5, 6}, {2, 3}), {1, 3})), (std::vector<double>{5, 7, 9}));
  EXPECT_EQ(values(sum_to(f64({1, 2, 3, 4, 5, 6}, {2, 3}), {2, 1})), (std::vector<double>{6, 15}));
}

// Section 4: element (i, j) of a view sits at offset + i * stride0 + j * stride1.
TEST(AutogradLesson, StridesPlaceEveryElementOfAView) {
  Tensor t = f64({0, 1, 2, 3, 4, 5}, {2, 3});
  EXPECT_EQ(t.strides(), (Shape{3, 1}));
  Tensor tt = t.t();
  EXPECT_EQ(tt.shape(), (Shape{3, 2}));
  EXPECT_EQ(tt.strides(), (Shape{1, 3}));
  EXPECT_FALSE(tt.is_contiguous());
  EXPECT_EQ(values(tt), (std::vector<double>{0, 3, 1, 4, 2, 5}));  // tt[2][1] at 2 * 1 + 1 * 3 = 5
  Tensor column = t.select(1, 2);                                    // t[:, 2]
  EXPECT_EQ(column.offset(), 2);
  EXPECT_EQ(column.strides(), (Shape{3}));
  EXPECT_EQ(values(column), (std::vector<double>{2, 5}));
  Tensor row = f64({7, 8, 9}, {1, 3}).expand({4, 3});
  EXPECT_EQ(row.strides(), (Shape{0, 1}));  // every row reads the same three numbers
  EXPECT_EQ(values(row), (std::vector<double>{7, 8, 9, 7, 8, 9, 7, 8, 9, 7, 8, 9}));
  EXPECT_TRUE(t.shares_storage(tt) && t.shares_storage(column));
}

// Section 5: the values chosen where the derivative does not exist.
TEST(AutogradLesson, ConventionsAtKinksAndTies) {
  Tensor x = f64({-1, 0, 2}, {3}, true);
  sum(relu(x)).backward();
  EXPECT_EQ(values(x.grad()), (std::vector<double>{0, 0, 1}));  // relu'(0) = 0

  Tensor m = f64({1, 3, 3}, {3}, true);
  max(m).backward();
  EXPECT_EQ(values(m.grad()), (std::vector<double>{0, 0.5, 0.5}));  // a tie splits the gradient

  Tensor a = f64({1, 2}, {2}, true), b = f64({1, 3}, {2}, true);
  sum(maximum(a, b)).backward();
  EXPECT_EQ(values(a.grad()), (std::vector<double>{0.5, 0}));
  EXPECT_EQ(values(b.grad()), (std::vector<double>{0.5, 1}));

  Tensor z = f64({0}, {1}, true);
  sum(abs(z)).backward();
  EXPECT_EQ(values(z.grad()), (std::vector<double>{0}));  // sign(0) = 0
}

// Section 6: a gradient penalty, P = (df/dx)^2 with f = x^3, differentiated.
TEST(AutogradLesson, DoubleBackwardOfAGradientPenalty) {
  Tensor x = scalar_leaf(2.0);
  Tensor f = x * x * x;
  Tensor g = autograd::grad({f}, {x}, {}, /*retain_graph=*/false, /*create_graph=*/true)[0];
  EXPECT_EQ(g.item(), 12.0);  // 3 x^2
  EXPECT_TRUE(g.requires_grad());
  Tensor P = g * g;  // 144
  P.backward();
  EXPECT_EQ(x.grad().item(), 288.0);  // 2 g dg/dx = 2 * 12 * 6x
}

// Section 6: create_graph keeps the graph (it implies retain_graph); a plain
// backward frees it, and a second one says so.
TEST(AutogradLesson, CreateGraphImpliesRetainGraph) {
  Tensor x = scalar_leaf(2.0);
  Tensor y = exp(x);
  y.backward({}, /*retain_graph=*/false, /*create_graph=*/true);
  EXPECT_NO_THROW(y.backward());
  EXPECT_NEAR(x.grad().item(), 2 * std::exp(2.0), 1e-12);

  Tensor u = scalar_leaf(2.0);
  Tensor v = exp(u);
  v.backward();
  test::expect_error([&] { v.backward(); }, {"ExpBackward", "a second time", "retain_graph"});
}

// Section 6: exp saves its own output; changing that output in place before
// backward would make the gradient wrong, so backward refuses.
TEST(AutogradLesson, ASavedTensorModifiedInPlaceIsRefused) {
  Tensor x = f64({0.5}, {1}, true);
  Tensor y = exp(x);
  Tensor L = sum(y * 1.0);
  y.fill_(7.0);  // allowed (y is not a leaf), but exp's backward needed the old y
  test::expect_error([&] { L.backward(); }, {"saved for backward was modified in place"});
}

// Exercise 1: softsign(x) = x / (1 + |x|), first from engine ops, then with
// its own backward 1 / (1 + |x|)^2; both pass the gradient check.
namespace {
Tensor softsign_composed(const Tensor& x) { return x / (abs(x) + 1.0); }
Tensor softsign_recorded(const Tensor& x) {
  Tensor out;
  {
    NoGradGuard forward_only;  // the forward's own pieces are not recorded
    out = x / (abs(x) + 1.0);
  }
  return record("SoftsignBackward", out, {x}, [sx = SavedTensor(x)](const Tensor& g) {
    const Tensor d = abs(sx.get()) + 1.0;
    return std::vector<Tensor>{g / (d * d)};
  });
}
}  // namespace

TEST(AutogradLesson, ExerciseAddAnOp) {
  for (auto* op : {&softsign_composed, &softsign_recorded}) {
    test::expect_gradcheck([op](const std::vector<Tensor>& in) { return op(in[0]); }, {test::leaf({4, 3}, 1, -3, 3)});
    test::expect_gradgradcheck([op](const std::vector<Tensor>& in) { return op(in[0]); },
                               {test::leaf({5}, 2, -3, 3)});
  }
  Tensor x = scalar_leaf(1.0);
  softsign_recorded(x).backward();
  EXPECT_EQ(x.grad().item(), 0.25);  // 1 / (1 + 1)^2
}

// Exercise 2: a square whose backward forgot the factor 2 is caught by the
// gradient check, which names the input, the element and both numbers.
TEST(AutogradLesson, ExerciseTheGradientCheckFindsAWrongBackward) {
  auto wrong_square = [](const std::vector<Tensor>& in) {
    const Tensor& x = in[0];
    Tensor out;
    {
      NoGradGuard forward_only;
      out = x * x;
    }
    return record("WrongSquareBackward", out, {x}, [sx = SavedTensor(x)](const Tensor& g) {
      return std::vector<Tensor>{g * sx.get()};  // should be g * 2x
    });
  };
  EXPECT_NONFATAL_FAILURE(test::expect_gradcheck(wrong_square, {test::leaf({1}, 3, 0.5, 1.5)}),
                          "input 0 element 0: analytic");
}

// Exercise 3: the gradient of a sum of an expanded view is the number of copies.
TEST(AutogradLesson, ExercisePredictTheGradientOfAnExpand) {
  Tensor x = f64({1, 2, 3}, {1, 3}, true);
  sum(x.expand({4, 3}) * x).backward();  // x appears in 4 rows, each d/dx (x * x_row) = 2 x
  EXPECT_EQ(values(x.grad()), (std::vector<double>{8, 16, 24}));
}
