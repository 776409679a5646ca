#include "engine/cpu/gemm.h"

#include <algorithm>
#include <array>
#include <climits>
#include <optional>

#include "engine/cpu/blas.h"
#include "engine/cpu/loops.h"
#include "engine/cpu/pointwise.h"

namespace ng::cpu {

namespace {

// How BLAS should read one rows x cols matrix with strides (rs, cs).
struct BlasMatrix {
  bool trans;  // stored transposed (column-major)
  int64_t ld;  // leading dimension: the stride between stored rows
};

std::optional<BlasMatrix> blas_matrix(int64_t rows, int64_t cols, int64_t rs, int64_t cs) {
  // Stored row-major as it is: unit column stride, rows ld apart. The stride
  // of a size-1 dim is meaningless, so it never disqualifies.
  if (cols <= 1 || cs == 1) {
    const int64_t ld = rows <= 1 ? std::max<int64_t>(cols, 1) : rs;
    if (ld >= std::max<int64_t>(cols, 1)) return BlasMatrix{false, ld};
  }
  // Stored column-major (a transposed view such as w.t()): BLAS reads the
  // cols x rows row-major matrix and transposes it.
  if (rows <= 1 || rs == 1) {
    const int64_t ld = cols <= 1 ? std::max<int64_t>(rows, 1) : cs;
    if (ld >= std::max<int64_t>(rows, 1)) return BlasMatrix{true, ld};
  }
  return std::nullopt;
}

std::optional<BlasMatrix> blas_matrix(const Tensor& t) {
  const int64_t n = t.dim();
  return blas_matrix(t.shape()[n - 2], t.shape()[n - 1], t.strides()[n - 2], t.strides()[n - 1]);
}

}  // namespace

bool blas_compatible(const Tensor& t) { return t.dim() >= 2 && blas_matrix(t).has_value(); }

void gemm(const Tensor& out, const Tensor& a, const Tensor& b, double beta) {
  const int64_t nd = out.dim();
  NG_CHECK(nd >= 2 && a.dim() == nd && b.dim() == nd, "gemm: expected operands of equal rank >= 2, got ",
           shape_str(a.shape()), " @ ", shape_str(b.shape()), " -> ", shape_str(out.shape()));
  const int64_t m = out.shape()[nd - 2], n = out.shape()[nd - 1], k = a.shape()[nd - 1];
  if (m == 0 || n == 0) return;
  if (k == 0) {  // an empty sum: only the beta * out part is left
    if (beta == 0.0)
      out.detach().zero_();
    else if (beta != 1.0)
      unary(kernels::Unary::mul_scalar, out, out, beta);
    return;
  }
  const std::optional<BlasMatrix> la = blas_matrix(a), lb = blas_matrix(b);
  NG_CHECK(la && lb, "gemm: operands ", shape_str(a.shape()), " (strides ", shape_str(a.strides()), ") and ",
           shape_str(b.shape()), " (strides ", shape_str(b.strides()),
           ") need a unit stride in one matrix dim; call contiguous() first");
  NG_CHECK(out.strides()[nd - 1] == 1 || n == 1, "gemm: output ", shape_str(out.shape()),
           " needs unit stride in its last dim");
  const int64_t ldc = m == 1 ? n : out.strides()[nd - 2];
  NG_CHECK(ldc >= n, "gemm: output rows of ", shape_str(out.shape()), " overlap");
  NG_CHECK(std::max({m, n, k, la->ld, lb->ld, ldc}) <= INT_MAX, "gemm: sizes of ", shape_str(a.shape()), " @ ",
           shape_str(b.shape()), " exceed the BLAS integer range");
  const blas::GemmShape shape{m, n, k, la->trans, lb->trans, la->ld, lb->ld, ldc};
  const Shape batch(out.shape().begin(), out.shape().end() - 2);
  auto offsets = [&](int64_t i) {  // of batch entry i in a, b and out
    std::array<int64_t, 3> off{0, 0, 0};
    for (int64_t d = nd - 3; d >= 0; --d) {
      const int64_t idx = i % batch[d];
      i /= batch[d];
      off[0] += idx * a.strides()[d];
      off[1] += idx * b.strides()[d];
      off[2] += idx * out.strides()[d];
    }
    return off;
  };
  dispatch_float(out.dtype(), [&]<class T>() {
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* pc = out.data<T>();
    blas::gemm_batched<T>(shape, T(beta), shape_numel(batch), [&](int64_t i) {
      const auto off = offsets(i);
      return blas::GemmOperands<T>{pa + off[0], pb + off[1], pc + off[2]};
    });
  });
}

}  // namespace ng::cpu
