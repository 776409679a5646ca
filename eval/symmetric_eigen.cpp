// symmetric_eigen through LAPACK's dsyev (OpenBLAS ships LAPACK; Debian's
// package installs no lapack.h, so the Fortran symbol is declared here).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include "engine/cpu/blas.h"
#include "engine/error.h"
#include "eval/feature_input.h"
#include "eval/metrics.h"

// Fortran passes everything by reference; gfortran appends the lengths of the
// character arguments as hidden trailing size_t parameters.
extern "C" void dsyev_(const char* jobz, const char* uplo, const int* n, double* a, const int* lda, double* w,
                       double* work, const int* lwork, int* info, size_t jobz_len, size_t uplo_len);

namespace ng::eval {

SymmetricEigen symmetric_eigen(const Tensor& matrix) {
  const char* op = "symmetric_eigen";
  NG_CHECK(matrix.defined() && matrix.dim() == 2 && matrix.size(0) == matrix.size(1), op, ": expected a square [D, D] matrix, got ",
           matrix.defined() ? shape_str(matrix.shape()) : "an undefined tensor");
  const Tensor a = as_feature_matrix(matrix, op, "matrix");
  const int64_t d = a.size(0);
  NG_CHECK(d <= 46340, op, ": matrix ", shape_str(a.shape()), " is too large for a 32-bit LAPACK");

  // dsyev reads one triangle only, so an asymmetric input would be silently
  // misread: refuse anything beyond rounding-level asymmetry.
  std::vector<double> values_in = a.to_vector<double>();
  double scale = 0;
  for (double v : values_in) {
    NG_CHECK(std::isfinite(v), op, ": matrix ", shape_str(a.shape()), " has a non-finite entry");
    scale = std::max(scale, std::fabs(v));
  }
  for (int64_t i = 0; i < d; ++i)
    for (int64_t j = 0; j < i; ++j) {
      const double x = values_in[size_t(i * d + j)], y = values_in[size_t(j * d + i)];
      NG_CHECK(std::fabs(x - y) <= 1e-10 * scale, op, ": matrix ", shape_str(a.shape()), " is not symmetric: (", i,
               ",", j, ") = ", x, " but (", j, ",", i, ") = ", y);
    }

  // A symmetric matrix is its own transpose, so the row-major buffer is also
  // the column-major one LAPACK expects. Its output is not symmetric:
  // eigenvector j fills column j column-major, i.e. row j of our buffer.
  const int n = int(d), lda = std::max(1, n);
  std::vector<double> w(static_cast<size_t>(d));
  int info = 0, lwork = -1;
  double work_size = 0;
  dsyev_("V", "U", &n, values_in.data(), &lda, w.data(), &work_size, &lwork, &info, 1, 1);  // workspace query
  NG_CHECK(info == 0, op, ": LAPACK dsyev workspace query failed (info ", info, ")");
  lwork = int(work_size);
  std::vector<double> work(size_t(std::max(1, lwork)));
  // Serial, so that the result does not depend on the thread count.
  cpu::blas::serial([&] { dsyev_("V", "U", &n, values_in.data(), &lda, w.data(), work.data(), &lwork, &info, 1, 1); });
  NG_CHECK(info == 0, op, ": LAPACK dsyev did not converge for ", shape_str(a.shape()), " (info ", info, ")");

  const TensorOptions f64 = TensorOptions{}.with_dtype(DType::f64);
  SymmetricEigen out;
  out.values = from_vector(w, {d}, f64);
  out.vectors = from_vector(values_in, {d, d}, f64).t().contiguous();  // rows of the buffer -> columns
  return out;
}

}  // namespace ng::eval
