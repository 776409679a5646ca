#include "support/gradcheck.h"

#include <cmath>
#include <random>
#include <sstream>

namespace ng::test {

Tensor uniform(const Shape& shape, uint64_t seed, double lo, double hi, DType dtype) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<double> v(size_t(shape_numel(shape)));
  for (double& x : v) x = dist(rng);
  return from_vector(v, shape, TensorOptions{}.with_dtype(dtype));
}

Tensor leaf(const Shape& shape, uint64_t seed, double lo, double hi) {
  return uniform(shape, seed, lo, hi).requires_grad_();
}

Tensor leaf_nc(const Shape& shape, uint64_t seed, double lo, double hi) {
  return non_contiguous(uniform(shape, seed, lo, hi)).requires_grad_();
}

Tensor non_contiguous(const Tensor& t) {
  NoGradGuard no_grad;
  if (t.dim() == 0) return t.detach().clone().requires_grad_(t.requires_grad());
  // A buffer twice as long in the last stored dim, filled with NaN, of which
  // every other slot is used; for 2+ dims the last two dims are also stored
  // transposed. Any kernel that ignores strides reads NaN.
  Shape stored = t.shape();
  if (t.dim() >= 2) std::swap(stored[stored.size() - 1], stored[stored.size() - 2]);
  stored.back() *= 2;
  Tensor buffer = full(stored, std::nan(""), t.options());
  Tensor view = buffer.slice(-1, 0, stored.back(), 2);
  if (t.dim() >= 2) view = view.transpose(-1, -2);
  view.copy_(t.detach());
  return view.requires_grad_(t.requires_grad());
}

static double scalar_of(const TensorFn& f, const std::vector<Tensor>& in, const Tensor& r) {
  NoGradGuard no_grad;
  return sum(f(in) * r).item();
}

static void compare(const char* what, size_t input, int64_t elem, double analytic, double numeric,
                    const GradcheckOptions& opt, int& failures) {
  const double tol = opt.atol + opt.rtol * std::fabs(numeric);
  if (std::fabs(analytic - numeric) > tol || std::isnan(analytic) != std::isnan(numeric)) {
    if (++failures <= 10)
      ADD_FAILURE() << what << ": input " << input << " element " << elem << ": analytic " << analytic
                    << " vs numeric " << numeric << " (tolerance " << tol << ")";
  }
}

// Element `i` (row-major) of t, as a 0-d view, for poking.
static Tensor element(const Tensor& t, int64_t i) {
  Shape idx(size_t(t.dim()));
  int64_t rem = i;
  for (int64_t d = t.dim() - 1; d >= 0; --d) {
    idx[d] = rem % t.shape()[d];
    rem /= t.shape()[d];
  }
  int64_t off = t.offset();
  for (int64_t d = 0; d < t.dim(); ++d) off += idx[d] * t.strides()[d];
  return make_view(t, {}, {}, off);
}

void expect_gradcheck(const TensorFn& f, const std::vector<Tensor>& inputs, GradcheckOptions opt) {
  for (const Tensor& in : inputs)
    ASSERT_TRUE(!in.requires_grad() || (in.dtype() == DType::f64 && in.is_leaf()))
        << "gradcheck needs float64 leaf inputs";
  Tensor y;
  {
    NoGradGuard no_grad;
    y = f(inputs);
  }
  const Tensor r = uniform(y.shape(), 12345, 0.5, 1.5);
  std::vector<Tensor> wrt;
  for (const Tensor& in : inputs)
    if (in.requires_grad()) wrt.push_back(in);
  ASSERT_FALSE(wrt.empty()) << "gradcheck: no input requires grad";
  const Tensor out = sum(f(inputs) * r);
  const std::vector<Tensor> grads = autograd::grad({out}, wrt, {}, false, false, /*allow_unused=*/true);

  int failures = 0;
  for (size_t k = 0; k < wrt.size(); ++k) {
    const Tensor& x = wrt[k];
    ASSERT_EQ(grads[k].shape(), x.shape());
    const std::vector<double> analytic = grads[k].to_vector<double>();
    for (int64_t i = 0; i < x.numel(); ++i) {
      Tensor e = element(x, i);
      double orig, plus, minus;
      {
        NoGradGuard no_grad;
        orig = e.item();
        e.fill_(orig + opt.eps);
        plus = scalar_of(f, inputs, r);
        e.fill_(orig - opt.eps);
        minus = scalar_of(f, inputs, r);
        e.fill_(orig);
      }
      compare("gradcheck", k, i, analytic[size_t(i)], (plus - minus) / (2 * opt.eps), opt, failures);
    }
  }
}

void expect_gradgradcheck(const TensorFn& f, const std::vector<Tensor>& inputs, GradcheckOptions opt) {
  std::vector<Tensor> wrt;
  for (const Tensor& in : inputs)
    if (in.requires_grad()) wrt.push_back(in);
  ASSERT_FALSE(wrt.empty());
  Tensor y;
  {
    NoGradGuard no_grad;
    y = f(inputs);
  }
  const Tensor r = uniform(y.shape(), 777, 0.5, 1.5);
  std::vector<Tensor> rs;
  for (size_t k = 0; k < wrt.size(); ++k) rs.push_back(uniform(wrt[k].shape(), 900 + k, 0.5, 1.5));
  // h(inputs) = sum_k sum(grad_k(inputs) * rs_k): a scalar function of the
  // inputs whose gradient is the second-order quantity under test.
  const TensorFn h = [&](const std::vector<Tensor>&) {
    const std::vector<Tensor> g = autograd::grad({sum(f(inputs) * r)}, wrt, {}, true, true, true);
    Tensor total = zeros({}, TensorOptions{}.with_dtype(DType::f64));
    for (size_t k = 0; k < g.size(); ++k) total = total + sum(g[k] * rs[k]);
    return total;
  };
  const Tensor hv = h(inputs);
  const std::vector<Tensor> second = autograd::grad({hv}, wrt, {}, false, false, true);
  int failures = 0;
  for (size_t k = 0; k < wrt.size(); ++k) {
    const std::vector<double> analytic = second[k].to_vector<double>();
    for (int64_t i = 0; i < wrt[k].numel(); ++i) {
      Tensor e = element(wrt[k], i);
      double orig, plus, minus;
      {
        NoGradGuard no_grad;
        orig = e.item();
      }
      auto eval_at = [&](double v) {
        {
          NoGradGuard no_grad;
          e.fill_(v);
        }
        return h(inputs).item();
      };
      plus = eval_at(orig + opt.eps);
      minus = eval_at(orig - opt.eps);
      eval_at(orig);
      compare("gradgradcheck", k, i, analytic[size_t(i)], (plus - minus) / (2 * opt.eps), opt, failures);
    }
  }
}

void expect_close(const Tensor& actual, const Tensor& expected, double atol, double rtol) {
  ASSERT_EQ(actual.shape(), expected.shape()) << "shapes differ: " << shape_str(actual.shape()) << " vs "
                                              << shape_str(expected.shape());
  const std::vector<double> a = actual.to_vector<double>(), e = expected.to_vector<double>();
  int failures = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double tol = atol + rtol * std::fabs(e[i]);
    const bool bad = std::isnan(a[i]) || std::isnan(e[i]) ? std::isnan(a[i]) != std::isnan(e[i])
                                                          : std::fabs(a[i] - e[i]) > tol;
    if (bad && ++failures <= 10)
      ADD_FAILURE() << "element " << i << ": " << a[i] << " vs expected " << e[i] << " (tolerance " << tol << ")";
  }
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace ng::test
