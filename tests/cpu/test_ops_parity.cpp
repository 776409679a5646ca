// The ops added for people who build their own models (gelu, elu, var, std,
// logsumexp, vector_norm, l1_loss, pad, max_pool2d, upsample_bilinear2d,
// embedding, gather, index_select, masked_fill, argmax, nll_loss,
// cross_entropy, unfold, fold and conv2d with groups, dilation and per-axis
// stride and padding) against PyTorch's values and gradients in
// float64 (tests/fixtures/ops_parity.safetensors, written by
// benchmarks/pytorch/ops_parity.py), on the CPU and, where one is visible,
// the GPU; then their gradient checks, to second order where it exists.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "engine/io/safetensors.h"
#include "engine/nanogen.h"
#include "support/gradcheck.h"
#include "support/runs.h"

using namespace ng;
using nlohmann::json;
using Ins = std::vector<Tensor>;
using Inputs = std::map<std::string, Tensor>;

namespace {

Size2 size2(const json& pair) { return {pair.at(0).get<int64_t>(), pair.at(1).get<int64_t>()}; }

Reduction reduction(const json& args) {
  const std::string r = args.at("reduction");
  return r == "mean" ? Reduction::mean : r == "sum" ? Reduction::sum : Reduction::none;
}

// The op a fixture case names, with its arguments and inputs.
Tensor apply(const json& args, const Inputs& in, const Tensor& l1_target) {
  const std::string op = args.at("op");
  const Tensor& x = in.at("x");
  auto optional = [&](const char* name) { return in.count(name) ? in.at(name) : Tensor(); };
  auto dims = [&] { return args.at("dims").get<std::vector<int64_t>>(); };
  if (op == "gelu") return gelu(x);
  if (op == "elu") return elu(x, args.at("alpha"));
  if (op == "var") return var(x, dims(), args.at("correction"), args.at("keepdim"));
  if (op == "std") return ng::std(x, dims(), args.at("correction"), args.at("keepdim"));
  if (op == "logsumexp") return logsumexp(x, dims(), args.at("keepdim"));
  if (op == "vector_norm") {
    const double ord = args.at("ord").is_string() ? INFINITY : args.at("ord").get<double>();
    return vector_norm(x, ord, dims(), args.at("keepdim"));
  }
  if (op == "l1_loss")
    return l1_loss(x, l1_target.to(x.device()), args.at("reduction") == "mean" ? Reduction::mean : Reduction::none);
  if (op == "pad")
    return pad(x, args.at("padding").get<std::vector<int64_t>>(), parse_pad_mode(args.at("mode")), args.at("value"));
  if (op == "max_pool2d") return max_pool2d(x, args.at("kernel"), args.at("stride"), args.at("padding"));
  if (op == "upsample_bilinear2d") {
    const std::vector<int64_t> size = args.at("size");
    return upsample_bilinear2d(x, size[0], size[1], args.at("align_corners"));
  }
  if (op == "embedding") return embedding(x, args.at("indices").get<std::vector<int64_t>>());
  if (op == "gather") return gather(x, args.at("dim"), in.at("index"));
  if (op == "index_select") return index_select(x, args.at("dim"), in.at("index"));
  if (op == "masked_fill") return masked_fill(x, in.at("mask"), args.at("value"));
  if (op == "argmax") return argmax(x, args.at("dim"), args.at("keepdim"));
  if (op == "nll_loss")
    return nll_loss(x, in.at("target"), reduction(args), optional("weight"), args.at("ignore_index"));
  if (op == "cross_entropy")
    return cross_entropy(x, in.at("target"), reduction(args), optional("weight"), args.at("ignore_index"));
  if (op == "conv2d")
    return conv2d(x, in.at("w"), optional("b"),
                  {.stride = size2(args.at("stride")), .padding = size2(args.at("padding")),
                   .dilation = size2(args.at("dilation")), .groups = args.at("groups")});
  if (op == "unfold")
    return unfold(x, size2(args.at("kernel")), size2(args.at("dilation")), size2(args.at("padding")),
                  size2(args.at("stride")));
  if (op == "fold")
    return fold(x, size2(args.at("size")), size2(args.at("kernel")), size2(args.at("dilation")),
                size2(args.at("padding")), size2(args.at("stride")));
  throw Error("unknown op in the fixture: " + op);
}

// Equal, NaN where PyTorch has NaN, infinities of the same sign, and finite
// values to 1e-12 of the largest reference value.
void expect_matches(const Tensor& actual, const Tensor& expected, const std::string& what) {
  ASSERT_EQ(actual.shape(), expected.shape()) << what;
  const std::vector<double> a = actual.to(Device::cpu()).to_vector<double>(), e = expected.to_vector<double>();
  double scale = 1e-300;
  for (double v : e)
    if (std::isfinite(v)) scale = std::max(scale, std::fabs(v));
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(e[i])) {
      EXPECT_TRUE(std::isnan(a[i])) << what << " element " << i << ": " << a[i] << ", PyTorch NaN";
    } else if (std::isinf(e[i])) {
      EXPECT_EQ(a[i], e[i]) << what << " element " << i;
    } else {
      EXPECT_NEAR(a[i], e[i], 1e-12 * scale) << what << " element " << i;
    }
  }
}

}  // namespace

TEST(OpsParity, ValuesAndGradientsMatchPyTorch) {
  const SafetensorsContent fx = load_safetensors("tests/fixtures/ops_parity.safetensors");
  const json cases = json::parse(fx.metadata.at("cases"));
  ASSERT_EQ(cases.size(), 42u);
  for (const Device device : test::devices()) {
    for (const auto& [name, text] : cases.items()) {
      SCOPED_TRACE(name + " on " + device.str());
      const json args = json::parse(text.get<std::string>());
      const std::vector<std::string> grads = args.at("grads");
      Inputs in;
      const std::vector<std::string> inputs = args.at("inputs");
      for (const std::string& input : inputs) {
        in[input] = fx.at(name + "." + input).to(device);
        if (std::find(grads.begin(), grads.end(), input) != grads.end()) in[input].requires_grad_();
      }
      const Tensor y = apply(args, in, fx.at("l1_target"));
      expect_matches(y, fx.at(name + ".y"), "value");
      if (grads.empty()) continue;
      sum(y * fx.at(name + ".r").to(device)).backward();
      for (const std::string& input : grads)
        expect_matches(in.at(input).grad(), fx.at(name + ".d" + input), "gradient of " + input);
    }
  }
}

TEST(OpsParity, GradientsCheckAgainstCentralDifferences) {
  using test::expect_gradcheck;
  using test::expect_gradgradcheck;
  using test::leaf;
  using test::leaf_nc;
  const std::vector<std::pair<const char*, test::TensorFn>> ops = {
      {"gelu", [](const Ins& in) { return gelu(in[0]); }},
      {"elu", [](const Ins& in) { return elu(in[0], 0.7); }},
      {"var", [](const Ins& in) { return var(in[0], {1}); }},
      {"std", [](const Ins& in) { return ng::std(in[0], {0, 2}, 0, true); }},
      {"logsumexp", [](const Ins& in) { return logsumexp(in[0], {-1}); }},
      {"norm2", [](const Ins& in) { return vector_norm(in[0], 2.0, {1}); }},
      {"norm3", [](const Ins& in) { return vector_norm(in[0], 3.0); }},
      {"l1_loss", [](const Ins& in) { return l1_loss(in[0], test::uniform(in[0].shape(), 7, -2, 2), Reduction::sum); }},
      {"pad_constant", [](const Ins& in) { return square(pad(in[0], {1, 2, 2, 0}, PadMode::constant, 0.5)); }},
      {"pad_reflect", [](const Ins& in) { return square(pad(in[0], {1, 1, 2, 1}, PadMode::reflect)); }},
      {"pad_replicate", [](const Ins& in) { return square(pad(in[0], {0, 3, 2, 2}, PadMode::replicate)); }},
  };
  for (const auto& [name, f] : ops) {
    SCOPED_TRACE(name);
    expect_gradcheck(f, {leaf({3, 4, 2}, 41, -2, 2)});
    expect_gradcheck(f, {leaf_nc({4, 3, 2}, 42, -2, 2)});
    if (std::string(name) != "l1_loss") expect_gradgradcheck(f, {leaf({2, 3, 2}, 43, -2, 2)});
  }
}

TEST(OpsParity, EdgeCasesByHand) {
  // The 2-norm's gradient at 0 is 0, not NaN; the variance of a constant is 0.
  const Tensor z = zeros({3}, TensorOptions{}.with_dtype(DType::f64).with_requires_grad());
  vector_norm(z).backward();
  EXPECT_EQ(z.grad().to_vector<double>(), (std::vector<double>{0, 0, 0}));
  EXPECT_EQ(var(full({5}, 3.25)).item(), 0.0);
  // A large mean does not cancel the variance away (two passes, not E[x^2] - E[x]^2).
  const Tensor big = from_vector(std::vector<float>{1e6f + 1, 1e6f + 2, 1e6f + 3}, {3});
  EXPECT_FLOAT_EQ(var(big).item(), 1.0f);
  // logsumexp does not overflow where exp would.
  EXPECT_NEAR(logsumexp(from_vector(std::vector<double>{1000, 1000}, {2})).item(), 1000 + std::log(2.0), 1e-12);
  test::expect_error([] { var(zeros({1})); }, {"var", "degrees of freedom"});
  test::expect_error([] { vector_norm(zeros({2}), 0.5); }, {"vector_norm", "ord"});
  // pad: by hand on a row, and what it refuses.
  const Tensor row = from_vector(std::vector<float>{1, 2, 3, 4}, {1, 4});
  EXPECT_EQ(pad(row, {2, 1}, PadMode::reflect).to_vector<float>(), (std::vector<float>{3, 2, 1, 2, 3, 4, 3}));
  EXPECT_EQ(pad(row, {1, 2}, PadMode::replicate).to_vector<float>(), (std::vector<float>{1, 1, 2, 3, 4, 4, 4}));
  EXPECT_EQ(pad(row, {0, 0, 1, 0}, PadMode::constant, -1).to_vector<float>(),
            (std::vector<float>{-1, -1, -1, -1, 1, 2, 3, 4}));
  test::expect_error([&] { pad(row, {4, 0}, PadMode::reflect); }, {"pad", "reflect", "smaller than its size 4"});
  test::expect_error([&] { pad(row, {1}); }, {"pad", "pairs"});
  test::expect_error([&] { pad(row, {1, 1, 1, 1, 1, 1}); }, {"pad", "3 pairs", "2-d"});
  test::expect_error([&] { pad(row, {-1, 0}); }, {"pad", ">= 0"});
  test::expect_error([&] { pad(row, {1, 0}, PadMode::reflect, 2.0); }, {"pad", "constant padding only"});
  test::expect_error([] { parse_pad_mode("circular"); }, {"circular", "constant, reflect or replicate"});
}
