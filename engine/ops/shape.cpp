#include "engine/ops/shape.h"

#include <algorithm>

#include "engine/autograd.h"
#include "engine/ops/dispatch.h"

namespace ng {

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  NG_CHECK(!tensors.empty(), "cat: expected a non-empty list of tensors");
  const Tensor& first = tensors[0];
  for (size_t i = 0; i < tensors.size(); ++i) NG_CHECK(tensors[i].defined(), "cat: tensor ", i, " is undefined");
  NG_CHECK(first.dim() >= 1, "cat: zero-dim tensors cannot be concatenated (tensor 0 has shape [])");
  const int64_t d = wrap_dim("cat", dim, first.dim());

  Shape out_shape = first.shape();
  out_shape[d] = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    check_same_dtype_device("cat", {first, t});
    bool match = t.dim() == first.dim();
    for (int64_t j = 0; match && j < t.dim(); ++j) match = j == d || t.shape()[j] == first.shape()[j];
    NG_CHECK(match, "cat: tensor ", i, " has shape ", shape_str(t.shape()), " but tensor 0 has shape ",
             shape_str(first.shape()), "; all dims except dim ", d, " must match");
    out_shape[d] += t.shape()[d];
  }

  // Each input is copied into its slice of the output (copy_ handles any
  // strides and devices).
  Tensor out = empty(out_shape, first.options());
  std::vector<int64_t> sizes;
  {
    NoGradGuard no_grad;
    int64_t offset = 0;
    for (const Tensor& t : tensors) {
      sizes.push_back(t.shape()[d]);
      out.narrow(d, offset, sizes.back()).copy_(t);
      offset += sizes.back();
    }
  }
  // The gradient of each input is its slice of the output's gradient: a
  // narrow view, itself differentiable.
  return record("CatBackward", out, tensors, [d, sizes](const Tensor& g) {
    std::vector<Tensor> grads;
    int64_t offset = 0;
    for (int64_t s : sizes) {
      grads.push_back(g.narrow(d, offset, s));
      offset += s;
    }
    return grads;
  });
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  NG_CHECK(!tensors.empty(), "stack: expected a non-empty list of tensors");
  for (size_t i = 0; i < tensors.size(); ++i) {
    NG_CHECK(tensors[i].defined(), "stack: tensor ", i, " is undefined");
    NG_CHECK(tensors[i].shape() == tensors[0].shape(), "stack: tensor ", i, " has shape ",
             shape_str(tensors[i].shape()), " but tensor 0 has shape ", shape_str(tensors[0].shape()),
             "; all must match");
  }
  const int64_t d = wrap_dim("stack", dim, tensors[0].dim() + 1);  // the new dim may be the last
  std::vector<Tensor> expanded;
  expanded.reserve(tensors.size());
  for (const Tensor& t : tensors) expanded.push_back(t.unsqueeze(d));
  return cat(expanded, d);
}

std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim) {
  NG_CHECK(x.defined(), "split: tensor is undefined");
  NG_CHECK(x.dim() >= 1, "split: cannot split a zero-dim tensor");
  const int64_t d = wrap_dim("split", dim, x.dim());
  int64_t total = 0;
  for (int64_t s : sizes) {
    NG_CHECK(s >= 0, "split: sizes ", shape_str(sizes), " contain a negative size");
    total += s;
  }
  NG_CHECK(total == x.shape()[d], "split: sizes ", shape_str(sizes), " add up to ", total, " but dim ", d,
           " of ", shape_str(x.shape()), " has size ", x.shape()[d]);
  // Views: each piece's gradient flows back through narrow's backward.
  std::vector<Tensor> pieces;
  int64_t offset = 0;
  for (int64_t s : sizes) {
    pieces.push_back(x.narrow(d, offset, s));
    offset += s;
  }
  return pieces;
}

std::vector<Tensor> split(const Tensor& x, int64_t size, int64_t dim) {
  NG_CHECK(x.defined(), "split: tensor is undefined");
  NG_CHECK(x.dim() >= 1, "split: cannot split a zero-dim tensor");
  const int64_t d = wrap_dim("split", dim, x.dim());
  const int64_t n = x.shape()[d];
  NG_CHECK(size > 0 || (size == 0 && n == 0), "split: split size must be positive, got ", size, " for ",
           shape_str(x.shape()));
  if (n == 0) return {x.narrow(d, 0, 0)};  // one empty piece, as PyTorch does
  std::vector<int64_t> sizes;
  for (int64_t offset = 0; offset < n; offset += size) sizes.push_back(std::min(size, n - offset));
  return split(x, sizes, d);
}

std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim) {
  NG_CHECK(x.defined(), "chunk: tensor is undefined");
  NG_CHECK(chunks > 0, "chunk: the number of chunks must be positive, got ", chunks);
  NG_CHECK(x.dim() >= 1, "chunk: cannot chunk a zero-dim tensor");
  const int64_t n = x.shape()[wrap_dim("chunk", dim, x.dim())];
  // ceil(n / chunks) each, as PyTorch does: the last chunk may be smaller, and
  // there may be fewer than `chunks` of them (7 in 4 chunks gives 2,2,2,1;
  // 5 in 4 chunks gives 2,2,1).
  return split(x, std::max<int64_t>((n + chunks - 1) / chunks, n == 0 ? 0 : 1), dim);
}

}  // namespace ng
