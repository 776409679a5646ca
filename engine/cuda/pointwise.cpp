#include "engine/cuda/backend.h"
#include "engine/cuda/runtime.h"
#include "kernels/elementwise.h"

namespace ng::cuda {

void unary(kernels::Unary op, const Tensor& out, const Tensor& a, double p0, double p1) {
  const auto g = geometry<2>(out, {&out, &a});
  kernels::launch_unary(op, scalar_type(out.dtype()), out.raw_data(), a.raw_data(), g, p0, p1, stream(out.device()));
}

void binary(kernels::Binary op, const Tensor& out, const Tensor& a, const Tensor& b) {
  const auto g = geometry<3>(out, {&out, &a, &b});
  kernels::launch_binary(op, scalar_type(out.dtype()), out.raw_data(), a.raw_data(), b.raw_data(), g,
                         stream(out.device()));
}

void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  const auto g = geometry<4>(out, {&out, &cond, &a, &b});
  kernels::launch_where(scalar_type(out.dtype()), out.raw_data(), cond.raw_data(), a.raw_data(), b.raw_data(), g,
                        stream(out.device()));
}

}  // namespace ng::cuda
