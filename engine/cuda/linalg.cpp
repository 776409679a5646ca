// cuda::gemm: the CUDA twin of cpu::gemm (engine/cpu/gemm.h), with the same
// contract: out[..., M, N] = a[..., M, K] @ b[..., K, N] + beta * out, batch
// dims possibly broadcast (stride 0), a and b with a unit stride in one of
// their two matrix dims, out with a unit last stride; beta == 0 never reads
// out. float32 runs at the precision set by set_matmul_precision
// (engine/precision.h); float64 always exactly. Kernels: kernels/matmul.h.
#include <algorithm>
#include <optional>

#include "engine/cuda/backend.h"
#include "engine/cuda/runtime.h"
#include "engine/cuda/workspace.h"
#include "engine/error.h"
#include "engine/precision.h"
#include "kernels/matmul.h"

namespace ng::cuda {

namespace {

// How a kernel reads one rows x cols matrix with strides (rs, cs): the same
// rule as the CPU's BLAS call (engine/cpu/gemm.cpp), so both backends accept
// exactly the same views. The stride of a size-1 dim never disqualifies.
struct MatrixLayout {
  bool trans;  // false: element (r, c) at r * ld + c; true: at c * ld + r
  int64_t ld;
};

std::optional<MatrixLayout> matrix_layout(int64_t rows, int64_t cols, int64_t rs, int64_t cs) {
  if (cols <= 1 || cs == 1) {
    const int64_t ld = rows <= 1 ? std::max<int64_t>(cols, 1) : rs;
    if (ld >= std::max<int64_t>(cols, 1)) return MatrixLayout{false, ld};
  }
  if (rows <= 1 || rs == 1) {
    const int64_t ld = cols <= 1 ? std::max<int64_t>(rows, 1) : cs;
    if (ld >= std::max<int64_t>(rows, 1)) return MatrixLayout{true, ld};
  }
  return std::nullopt;
}

std::optional<MatrixLayout> matrix_layout(const Tensor& t) {
  const int64_t n = t.dim();
  return matrix_layout(t.shape()[n - 2], t.shape()[n - 1], t.strides()[n - 2], t.strides()[n - 1]);
}

kernels::GemmMath gemm_math(DType dtype) {
  if (dtype != DType::f32) return kernels::GemmMath::fp32;  // float64 is always exact
  switch (matmul_precision()) {
    case MatmulPrecision::fp32: return kernels::GemmMath::fp32;
    case MatmulPrecision::tf32: return kernels::GemmMath::tf32;
    case MatmulPrecision::bf16: return kernels::GemmMath::bf16;
  }
  return kernels::GemmMath::fp32;
}

// The batch dims of out with a's, b's and out's strides along them. Size-1
// dims are dropped and neighbours that step through memory as one dim (in
// all three tensors) are merged, so the common cases become one dim.
kernels::GemmBatch batch_geometry(const Tensor& out, const Tensor& a, const Tensor& b) {
  kernels::GemmBatch g;
  const int64_t nb = out.dim() - 2;
  for (int64_t d = 0; d < nb; ++d) {
    const int64_t size = out.shape()[size_t(d)];
    if (size == 1) continue;
    const int64_t sa = a.strides()[size_t(d)], sb = b.strides()[size_t(d)], sc = out.strides()[size_t(d)];
    if (g.ndim > 0) {
      const int p = g.ndim - 1;
      if (g.stride_a[p] == size * sa && g.stride_b[p] == size * sb && g.stride_c[p] == size * sc) {
        g.shape[p] *= size;
        g.stride_a[p] = sa;
        g.stride_b[p] = sb;
        g.stride_c[p] = sc;
        continue;
      }
    }
    NG_CHECK(g.ndim < kernels::kMaxDims, "gemm: ", shape_str(out.shape()), " has more than ", kernels::kMaxDims,
             " batch dims that cannot be merged");
    g.shape[g.ndim] = size;
    g.stride_a[g.ndim] = sa;
    g.stride_b[g.ndim] = sb;
    g.stride_c[g.ndim] = sc;
    ++g.ndim;
  }
  return g;
}

}  // namespace

void gemm(const Tensor& out, const Tensor& a, const Tensor& b, double beta) {
  const int64_t nd = out.dim();
  NG_CHECK(nd >= 2 && a.dim() == nd && b.dim() == nd, "gemm: expected operands of equal rank >= 2, got ",
           shape_str(a.shape()), " @ ", shape_str(b.shape()), " -> ", shape_str(out.shape()));
  NG_CHECK(a.dtype() == out.dtype() && b.dtype() == out.dtype() && a.device() == out.device() &&
               b.device() == out.device(),
           "gemm: operands ", shape_str(a.shape()), " and ", shape_str(b.shape()),
           " must have the output's dtype and device");
  const int64_t m = out.shape()[nd - 2], n = out.shape()[nd - 1], k = a.shape()[nd - 1];
  NG_CHECK(a.shape()[nd - 2] == m && b.shape()[nd - 2] == k && b.shape()[nd - 1] == n, "gemm: shapes ",
           shape_str(a.shape()), " @ ", shape_str(b.shape()), " do not give ", shape_str(out.shape()));
  for (int64_t d = 0; d + 2 < nd; ++d)
    NG_CHECK(a.shape()[size_t(d)] == out.shape()[size_t(d)] && b.shape()[size_t(d)] == out.shape()[size_t(d)],
             "gemm: batch dims of ", shape_str(a.shape()), " and ", shape_str(b.shape()), " must equal those of ",
             shape_str(out.shape()), " (expand broadcast operands first)");
  if (out.numel() == 0) return;

  kernels::GemmProblem p;
  p.type = scalar_type(out.dtype());
  p.m = m;
  p.n = n;
  p.k = k;
  p.beta = beta;
  if (k > 0) {
    const std::optional<MatrixLayout> la = matrix_layout(a), lb = matrix_layout(b);
    NG_CHECK(la && lb, "gemm: operands ", shape_str(a.shape()), " (strides ", shape_str(a.strides()), ") and ",
             shape_str(b.shape()), " (strides ", shape_str(b.strides()),
             ") need a unit stride in one matrix dim; call contiguous() first");
    p.a = a.raw_data();
    p.lda = la->ld;
    p.trans_a = la->trans;
    p.b = b.raw_data();
    p.ldb = lb->ld;
    p.trans_b = lb->trans;
  } else {  // an empty sum: the kernels never read a or b, only write beta * out
    p.a = out.raw_data();
    p.lda = 1;
    p.b = out.raw_data();
    p.ldb = n;
  }
  NG_CHECK(out.strides()[nd - 1] == 1 || n == 1, "gemm: output ", shape_str(out.shape()),
           " needs unit stride in its last dim");
  p.c = out.raw_data();
  p.ldc = m == 1 ? n : out.strides()[nd - 2];
  NG_CHECK(p.ldc >= n, "gemm: output rows of ", shape_str(out.shape()), " overlap");
  p.batch = batch_geometry(out, a, b);

  const kernels::GemmMath math = gemm_math(out.dtype());
  // Split-K scratch (engine/cuda/workspace.h).
  const size_t bytes = kernels::gemm_workspace_bytes(p, math);
  const Tensor ws = bytes > 0 ? workspace(bytes, out.device()) : Tensor();
  kernels::launch_gemm(p, math, ws.defined() ? ws.raw_data() : nullptr, bytes, stream(out.device()));
}

}  // namespace ng::cuda
