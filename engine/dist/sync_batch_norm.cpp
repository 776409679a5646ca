#include "engine/dist/sync_batch_norm.h"

#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/reduce.h"

namespace ng::dist {

Tensor all_reduce_sum(const Tensor& x, Communicator& ranks) {
  Tensor out = x.detach().clone();
  ranks.all_reduce_sum({out});
  return record("AllReduceSumBackward", out, {x},
                [&ranks](const Tensor& g) { return std::vector<Tensor>{all_reduce_sum(g, ranks)}; });
}

Tensor sync_batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                       const Tensor& running_var, double momentum, double eps, Communicator& ranks) {
  NG_CHECK(x.dim() >= 2, "sync_batch_norm: input ", shape_str(x.shape()), " must be [N, C, ...]");
  const int64_t channels = x.size(1);
  std::vector<int64_t> dims{0};
  for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
  Shape per_channel(size_t(x.dim()), 1);
  per_channel[1] = channels;
  // The number of values each channel's statistics cover, over all ranks.
  const Tensor local_count = full({1}, double(x.numel() / channels), TensorOptions{}.with_dtype(DType::f64));
  ranks.all_reduce_sum({local_count});
  const double count = local_count.item();
  NG_CHECK(count > 1, "sync_batch_norm: ", count, " value(s) per channel over all ranks; batch norm needs more than 1");

  const Tensor mean = all_reduce_sum(sum(x, dims), ranks) / count;
  const Tensor centred = x - mean.reshape(per_channel);
  const Tensor var = all_reduce_sum(sum(square(centred), dims), ranks) / count;  // biased: the normalisation's
  Tensor y = centred * reciprocal(sqrt(var + eps)).reshape(per_channel);
  if (weight.defined()) y = y * weight.reshape(per_channel);
  if (bias.defined()) y = y + bias.reshape(per_channel);
  if (running_mean.defined()) {
    NoGradGuard no_grad;
    Tensor rm = running_mean, rv = running_var;
    rm.copy_(rm * (1.0 - momentum) + mean.detach().to(rm.dtype()) * momentum);
    rv.copy_(rv * (1.0 - momentum) + (var.detach() * (count / (count - 1))).to(rv.dtype()) * momentum);
  }
  return y;
}

}  // namespace ng::dist
