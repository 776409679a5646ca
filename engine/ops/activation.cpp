#include "engine/ops/activation.h"

#include <cmath>

#include "engine/autograd.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/pointwise_launch.h"

namespace ng {

using kernels::Unary;
using Grads = std::vector<Tensor>;

// relu' and leaky_relu' are piecewise constant, so the mask is exact for
// every order of derivative.
Tensor relu(const Tensor& x) {
  return record("ReluBackward", launch_unary(Unary::relu, x), {x},
                [sx = SavedTensor(x)](const Tensor& g) { return Grads{g * launch_unary(Unary::step, sx.get())}; });
}

Tensor leaky_relu(const Tensor& x, double slope) {
  return record("LeakyReluBackward", launch_unary(Unary::leaky_relu, x, slope), {x},
                [sx = SavedTensor(x), slope](const Tensor& g) {
                  return Grads{g * launch_unary(Unary::leaky_relu_slope, sx.get(), slope)};
                });
}

Tensor sigmoid(const Tensor& x) {
  Tensor out = launch_unary(Unary::sigmoid, x);
  return record("SigmoidBackward", out, {x}, [so = SavedTensor::output(out)](const Tensor& g) {
    const Tensor s = so.get();
    return Grads{g * s * (1.0 - s)};
  });
}

Tensor tanh(const Tensor& x) {
  Tensor out = launch_unary(Unary::tanh, x);
  return record("TanhBackward", out, {x}, [so = SavedTensor::output(out)](const Tensor& g) {
    const Tensor t = so.get();
    return Grads{g * (1.0 - t * t)};
  });
}

Tensor silu(const Tensor& x) {
  return record("SiluBackward", launch_unary(Unary::silu, x), {x},
                [sx = SavedTensor(x)](const Tensor& g) { return Grads{silu_backward(g, sx.get())}; });
}

// silu' = s (1 + x (1 - s)) and silu'' = s (1 - s) (2 + x (1 - 2 s)), s = sigmoid(x).
Tensor silu_backward(const Tensor& g, const Tensor& x) {
  return record("SiluBackwardBackward", g * launch_unary(Unary::silu_grad, x), {g, x},
                [sg = SavedTensor(g), sx = SavedTensor(x)](const Tensor& gg) {
                  const Tensor x_ = sx.get(), s = sigmoid(x_);
                  return Grads{silu_backward(gg, x_), gg * sg.get() * s * (1.0 - s) * (x_ * (1.0 - 2.0 * s) + 2.0)};
                });
}

// softplus' = sigmoid(x); log_sigmoid' = sigmoid(-x). Both differentiable.
Tensor softplus(const Tensor& x) {
  return record("SoftplusBackward", launch_unary(Unary::softplus, x), {x},
                [sx = SavedTensor(x)](const Tensor& g) { return Grads{g * sigmoid(sx.get())}; });
}

Tensor log_sigmoid(const Tensor& x) {
  return record("LogSigmoidBackward", launch_unary(Unary::log_sigmoid, x), {x},
                [sx = SavedTensor(x)](const Tensor& g) { return Grads{g * sigmoid(-sx.get())}; });
}

Tensor gelu(const Tensor& x) {
  return record("GeluBackward", launch_unary(Unary::gelu, x), {x},
                [sx = SavedTensor(x)](const Tensor& g) { return Grads{gelu_backward(g, sx.get())}; });
}

// gelu' = Phi(x) + x phi(x) and gelu'' = phi(x) (2 - x^2), phi the standard
// normal density; like silu_backward, an op of its own so that the second
// derivative is one more differentiable expression.
Tensor gelu_backward(const Tensor& g, const Tensor& x) {
  return record("GeluBackwardBackward", g * launch_unary(Unary::gelu_grad, x), {g, x},
                [sg = SavedTensor(g), sx = SavedTensor(x)](const Tensor& gg) {
                  const Tensor x_ = sx.get();
                  const Tensor phi = exp(square(x_) * -0.5) * 0.39894228040143267794;  // 1 / sqrt(2 pi)
                  return Grads{gelu_backward(gg, x_), gg * sg.get() * phi * (2.0 - square(x_))};
                });
}

// elu' = 1 above 0, alpha e^x at and below it. The exponential is taken of
// min(x, 0): on the side where it is not used it stays 1 instead of
// overflowing, which would turn the masked-out branch's gradient into NaN.
Tensor elu(const Tensor& x, double alpha) {
  return record("EluBackward", launch_unary(Unary::elu, x, alpha), {x}, [sx = SavedTensor(x), alpha](const Tensor& g) {
    const Tensor x_ = sx.get();
    const Tensor below = exp(clamp(x_, -INFINITY, 0.0)) * alpha;
    return Grads{g * where(gt(x_, 0.0), ones_like(x_), below)};
  });
}

}  // namespace ng
