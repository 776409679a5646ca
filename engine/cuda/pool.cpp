// Pooling and nearest resampling on the GPU: inputs go to the kernels with
// their strides (no copy); outputs are the ops' fresh contiguous tensors.
#include "engine/cuda/backend.h"
#include "engine/cuda/runtime.h"
#include "engine/error.h"
#include "kernels/pool.h"

namespace ng::cuda {

namespace {

kernels::Image4d image(const Tensor& t) {
  return {t.size(0), t.size(1), t.size(2), t.size(3), t.stride(0), t.stride(1), t.stride(2), t.stride(3)};
}

void check_output(const char* op, const Tensor& out, const Tensor& in) {
  NG_CHECK(out.dim() == 4 && in.dim() == 4 && out.is_contiguous() && out.device() == in.device() &&
               out.dtype() == in.dtype(),
           op, ": the CUDA kernel needs 4-d tensors of one dtype and device and a contiguous output, got output ",
           shape_str(out.shape()), " and input ", shape_str(in.shape()));
}

}  // namespace

void avg_pool2d_forward(const Tensor& out, const Tensor& x, int64_t kernel, int64_t stride, int64_t padding) {
  check_output("avg_pool2d", out, x);
  kernels::launch_avg_pool2d_forward(scalar_type(x.dtype()), out.raw_data(), out.size(2), out.size(3), x.raw_data(),
                                     image(x), kernel, stride, padding, stream(x.device()));
}

void avg_pool2d_backward(const Tensor& dx, const Tensor& g, int64_t kernel, int64_t stride, int64_t padding) {
  check_output("avg_pool2d backward", dx, g);
  kernels::launch_avg_pool2d_backward(scalar_type(g.dtype()), dx.raw_data(), dx.size(2), dx.size(3), g.raw_data(),
                                      image(g), kernel, stride, padding, stream(g.device()));
}

void max_pool2d_select(const Tensor& out, const Tensor& x, const Tensor& v, int64_t kernel, int64_t stride,
                       int64_t padding) {
  check_output("max_pool2d", out, x);
  check_output("max_pool2d", out, v);
  kernels::launch_max_pool2d_select(scalar_type(x.dtype()), out.raw_data(), out.size(2), out.size(3), x.raw_data(),
                                    image(x), v.raw_data(), image(v), kernel, stride, padding, stream(x.device()));
}

void max_pool2d_scatter(const Tensor& dx, const Tensor& x, const Tensor& g, int64_t kernel, int64_t stride,
                        int64_t padding) {
  check_output("max_pool2d backward", dx, x);
  check_output("max_pool2d backward", dx, g);
  kernels::launch_max_pool2d_scatter(scalar_type(x.dtype()), dx.raw_data(), x.raw_data(), image(x), g.raw_data(),
                                     image(g), kernel, stride, padding, stream(x.device()));
}

void upsample_nearest2d_forward(const Tensor& out, const Tensor& x, int64_t scale) {
  check_output("upsample_nearest2d", out, x);
  kernels::launch_upsample_nearest2d_forward(scalar_type(x.dtype()), out.raw_data(), x.raw_data(), image(x), scale,
                                             stream(x.device()));
}

void upsample_nearest2d_backward(const Tensor& dx, const Tensor& g, int64_t scale) {
  check_output("upsample_nearest2d backward", dx, g);
  kernels::launch_upsample_nearest2d_backward(scalar_type(g.dtype()), dx.raw_data(), g.raw_data(), image(g), scale,
                                              stream(g.device()));
}

}  // namespace ng::cuda
