#include "engine/ops/random.h"

#include "engine/autograd.h"
#include "engine/cpu/random.h"
#include "engine/ops/dispatch.h"
#include "engine/ops/elementwise.h"

namespace ng {

using Grads = std::vector<Tensor>;

Generator& default_generator() {
  static Generator gen(0, 0);
  return gen;
}

void manual_seed(uint64_t seed) { default_generator().set_state(seed, 0); }

// ---- sampling ----------------------------------------------------------------------

Tensor rand(const Shape& shape, Generator& gen, TensorOptions opts) {
  Tensor out = empty(shape, opts.with_requires_grad(false));
  const uint64_t seed = gen.seed(), offset = gen.take(out.numel());
  if (out.device().is_cpu())
    cpu::uniform(out, seed, offset);
  else
    NG_ON_CUDA("rand", cuda::uniform(out, seed, offset), out);
  return out.requires_grad_(opts.requires_grad);
}

Tensor rand(const Shape& shape, TensorOptions opts) { return rand(shape, default_generator(), opts); }

Tensor randn(const Shape& shape, Generator& gen, TensorOptions opts) {
  Tensor out = empty(shape, opts.with_requires_grad(false));
  const uint64_t seed = gen.seed(), offset = gen.take(out.numel());
  if (out.device().is_cpu())
    cpu::normal(out, seed, offset);
  else
    NG_ON_CUDA("randn", cuda::normal(out, seed, offset), out);
  return out.requires_grad_(opts.requires_grad);
}

Tensor randn(const Shape& shape, TensorOptions opts) { return randn(shape, default_generator(), opts); }

Tensor bernoulli(const Tensor& p, Generator& gen) {
  NG_CHECK(p.defined(), "bernoulli: p is an undefined tensor");
  const Tensor prob = p.detach().contiguous();
  Tensor out = empty(p.shape(), p.options());
  const uint64_t seed = gen.seed(), offset = gen.take(out.numel());
  if (out.device().is_cpu())
    cpu::bernoulli(out, prob, seed, offset);
  else
    NG_ON_CUDA("bernoulli", cuda::bernoulli(out, prob, seed, offset), prob);
  return out;
}

Tensor bernoulli(const Tensor& p) { return bernoulli(p, default_generator()); }

// ---- dropout -----------------------------------------------------------------------

Tensor dropout(const Tensor& x, double p, bool training, Generator& gen) {
  NG_CHECK(x.defined(), "dropout: x is an undefined tensor");
  NG_CHECK(p >= 0.0 && p < 1.0, "dropout: probability p = ", p, " must be in [0, 1) (input ",
           shape_str(x.shape()), ")");
  // The identity draws nothing, so it leaves the generator where it was.
  if (!training || p == 0.0) return x;

  Tensor keep = empty(x.shape(), x.options());  // 1 where x survives, else 0
  const uint64_t seed = gen.seed(), offset = gen.take(keep.numel());
  if (keep.device().is_cpu())
    cpu::dropout_mask(keep, p, seed, offset);
  else
    NG_ON_CUDA("dropout", cuda::dropout_mask(keep, p, seed, offset), keep);

  const double scale = 1.0 / (1.0 - p);
  Tensor out;
  {
    NoGradGuard no_grad;
    out = x * keep * scale;
  }
  // d out / d x = keep / (1 - p), written with differentiable ops so that
  // double backward works.
  return record("DropoutBackward", out, {x},
                [sk = SavedTensor(keep), scale](const Tensor& g) { return Grads{g * sk.get() * scale}; });
}

Tensor dropout(const Tensor& x, double p, bool training) { return dropout(x, p, training, default_generator()); }

}  // namespace ng
