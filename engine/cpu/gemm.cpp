#include "engine/cpu/gemm.h"

#include <cblas.h>

#include <algorithm>
#include <climits>
#include <optional>

#include "engine/cpu/loops.h"
#include "engine/cpu/pointwise.h"

namespace ng::cpu {

namespace {

// How BLAS should read one rows x cols matrix with strides (rs, cs).
struct BlasMatrix {
  CBLAS_TRANSPOSE trans;
  int64_t ld;        // leading dimension: the stride between stored rows
  int64_t row_step;  // element distance between logical rows / columns,
  int64_t col_step;  // used to cut the matrix into blocks
};

std::optional<BlasMatrix> blas_matrix(int64_t rows, int64_t cols, int64_t rs, int64_t cs) {
  // Stored row-major as it is: unit column stride, rows ld apart. The stride
  // of a size-1 dim is meaningless, so it never disqualifies.
  if (cols <= 1 || cs == 1) {
    const int64_t ld = rows <= 1 ? std::max<int64_t>(cols, 1) : rs;
    if (ld >= std::max<int64_t>(cols, 1)) return BlasMatrix{CblasNoTrans, ld, ld, 1};
  }
  // Stored column-major (a transposed view such as w.t()): BLAS reads the
  // cols x rows row-major matrix and transposes it.
  if (rows <= 1 || rs == 1) {
    const int64_t ld = cols <= 1 ? std::max<int64_t>(rows, 1) : cs;
    if (ld >= std::max<int64_t>(rows, 1)) return BlasMatrix{CblasTrans, ld, 1, ld};
  }
  return std::nullopt;
}

std::optional<BlasMatrix> blas_matrix(const Tensor& t) {
  const int64_t n = t.dim();
  return blas_matrix(t.shape()[n - 2], t.shape()[n - 1], t.strides()[n - 2], t.strides()[n - 1]);
}

void gemm_call(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t m, int64_t n, int64_t k, const float* a,
               int64_t lda, const float* b, int64_t ldb, double beta, float* c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta, tb, int(m), int(n), int(k), 1.0f, a, int(lda), b, int(ldb), float(beta), c,
              int(ldc));
}

void gemm_call(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t m, int64_t n, int64_t k, const double* a,
               int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, ta, tb, int(m), int(n), int(k), 1.0, a, int(lda), b, int(ldb), beta, c, int(ldc));
}

// OpenBLAS's own worker threads spin for a while after every call, and on a
// machine with few cores they then fight the engine's OpenMP threads (an
// elementwise op right after a GEMM ran 20x slower). So OpenBLAS runs on one
// thread and the engine spreads GEMMs over its OpenMP threads itself, by
// cutting the output into blocks or handing out whole batch entries.
void use_single_threaded_blas() {
  static const bool done = [] {
    openblas_set_num_threads(1);
    return true;
  }();
  (void)done;
}

// Multiply-adds below which a GEMM is not worth splitting over threads.
constexpr int64_t kParallelWork = int64_t(1) << 18;

// C[m,n] (+)= A[m,k] @ B[k,n] on `parts` threads, each computing a block of
// rows (or of columns, when the output is wide) with its own BLAS call.
template <class T>
void gemm_blocks(const BlasMatrix& la, const BlasMatrix& lb, int64_t m, int64_t n, int64_t k, const T* a,
                 const T* b, double beta, T* c, int64_t ldc, int parts) {
  const bool by_rows = m >= n;
  const int64_t extent = by_rows ? m : n;
  constexpr int64_t kAlign = 16;  // block edges on micro-kernel multiples
  const int64_t step = (extent / parts + kAlign - 1) / kAlign * kAlign;
  parts = int(std::min<int64_t>(parts, (extent + step - 1) / std::max<int64_t>(step, 1)));
  if (parts <= 1) {
    gemm_call(la.trans, lb.trans, m, n, k, a, la.ld, b, lb.ld, beta, c, ldc);
    return;
  }
#pragma omp parallel for num_threads(parts) schedule(static)
  for (int p = 0; p < parts; ++p) {
    const int64_t lo = p * step, len = std::min(step, extent - lo);
    if (len <= 0) continue;
    if (by_rows)
      gemm_call(la.trans, lb.trans, len, n, k, a + lo * la.row_step, la.ld, b, lb.ld, beta, c + lo * ldc, ldc);
    else
      gemm_call(la.trans, lb.trans, m, len, k, a, la.ld, b + lo * lb.col_step, lb.ld, beta, c + lo, ldc);
  }
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
  use_single_threaded_blas();

  const Shape batch(out.shape().begin(), out.shape().end() - 2);
  const int64_t batches = shape_numel(batch);
  auto batch_offsets = [&](int64_t i) {
    std::array<int64_t, 3> off{0, 0, 0};  // a, b, out
    for (int64_t d = nd - 3; d >= 0; --d) {
      const int64_t idx = i % batch[d];
      i /= batch[d];
      off[0] += idx * a.strides()[d];
      off[1] += idx * b.strides()[d];
      off[2] += idx * out.strides()[d];
    }
    return off;
  };
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  const int64_t work = m * n * k;

  dispatch_float(out.dtype(), [&]<class T>() {
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* pc = out.data<T>();
    if (threads > 1 && batches >= threads && batches * work >= kParallelWork) {
      // Many matrices: one thread a batch entry.
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < batches; ++i) {
        const auto off = batch_offsets(i);
        gemm_call(la->trans, lb->trans, m, n, k, pa + off[0], la->ld, pb + off[1], lb->ld, beta, pc + off[2], ldc);
      }
    } else {
      // Few (large) matrices: each one cut into blocks over the threads.
      const int parts = work >= kParallelWork ? threads : 1;
      for (int64_t i = 0; i < batches; ++i) {
        const auto off = batch_offsets(i);
        gemm_blocks(*la, *lb, m, n, k, pa + off[0], pb + off[1], beta, pc + off[2], ldc, parts);
      }
    }
  });
}

}  // namespace ng::cpu
