#include "engine/tensor.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <cstdlib>
#include <cstring>
#include <iomanip>
#include <sstream>

#include "engine/autograd.h"
#include "engine/cpu/loops.h"
#include "engine/error.h"
#include "engine/memory.h"

namespace ng {

// ---- shapes ---------------------------------------------------------------

std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < s.size(); ++i) os << (i ? "," : "") << s[i];
  os << ']';
  return os.str();
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

Shape contiguous_strides(const Shape& s) {
  Shape st(s.size());
  int64_t acc = 1;
  for (int64_t d = int64_t(s.size()) - 1; d >= 0; --d) {
    st[d] = acc;
    acc *= std::max<int64_t>(s[d], 1);
  }
  return st;
}

// ---- storage --------------------------------------------------------------

Storage::Storage(size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  data_ = device_alloc(device, nbytes);
}

Storage::~Storage() { device_free(device_, data_, nbytes_); }

// ---- metadata -------------------------------------------------------------

int64_t wrap_dim(const char* op, int64_t dim, int64_t ndim) {
  const int64_t w = dim < 0 ? dim + ndim : dim;
  NG_CHECK(w >= 0 && w < ndim, op, ": dim ", dim, " is out of range for a tensor of ", ndim, " dims",
           ndim == 0 ? " (a 0-d tensor has none)" : "");
  return w;
}

// PyTorch lets squeeze and transpose name dim 0 (or -1) of a 0-d tensor,
// which they leave as it is.
static bool names_a_scalars_dim(int64_t dim, int64_t ndim) { return ndim == 0 && (dim == 0 || dim == -1); }

int64_t Tensor::size(int64_t d) const { return shape()[wrap_dim("size", d, dim())]; }
int64_t Tensor::stride(int64_t d) const { return strides()[wrap_dim("stride", d, dim())]; }

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (int64_t d = dim() - 1; d >= 0; --d) {
    if (shape()[d] == 1) continue;
    if (strides()[d] != expected) return false;
    expected *= shape()[d];
  }
  return true;
}

bool Tensor::shares_storage(const Tensor& other) const {
  return defined() && other.defined() && impl_->storage == other.impl_->storage;
}

template <class T>
T* Tensor::data() const {
  const DType want = std::is_same_v<T, double> ? DType::f64 : DType::f32;
  NG_CHECK(dtype() == want, "data<", dtype_name(want), ">: tensor has dtype ", dtype_name(dtype()));
  return static_cast<T*>(impl_->storage->data()) + impl_->offset;
}
template float* Tensor::data<float>() const;
template double* Tensor::data<double>() const;

void* Tensor::raw_data() const {
  return static_cast<char*>(impl_->storage->data()) + impl_->offset * dtype_size(dtype());
}

Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.impl()->storage;
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = base.dtype();
  return Tensor(std::move(impl));
}

// ---- views ------------------------------------------------------------------
// Each view records a backward that maps the gradient of the view back to the
// base's shape, with differentiable ops, so double backward works through it.

static Shape infer_shape(Shape shape, int64_t numel, const Shape& from) {
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      NG_CHECK(infer < 0, "view: only one dimension can be -1, got ", shape_str(shape));
      infer = int64_t(i);
    } else {
      NG_CHECK(shape[i] >= 0, "view: invalid size in ", shape_str(shape));
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    NG_CHECK(known != 0 && numel % known == 0, "view: shape ", shape_str(shape),
             " is invalid for a tensor of shape ", shape_str(from));
    shape[infer] = numel / known;
  }
  NG_CHECK(shape_numel(shape) == numel, "view: shape ", shape_str(shape),
           " is invalid for a tensor of shape ", shape_str(from), " (", numel, " elements)");
  return shape;
}

// Strides for viewing (shape, strides) as `to` without a copy, or empty when
// impossible. Walks chunks of dims that are contiguous among themselves.
static std::optional<Shape> view_strides(const Shape& shape, const Shape& strides, const Shape& to) {
  Shape out(to.size());
  if (shape_numel(shape) <= 1) return contiguous_strides(to);  // one element fits any layout
  int64_t view_d = int64_t(to.size()) - 1;
  int64_t chunk_base_stride = strides.empty() ? 1 : strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = int64_t(shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= shape[d];
    if (d == 0 || (shape[d - 1] != 1 && strides[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || to[view_d] == 1)) {
        out[view_d] = view_numel * chunk_base_stride;
        view_numel *= to[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (d > 0) {
        chunk_base_stride = strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return out;
}

Tensor Tensor::view(Shape shape) const {
  shape = infer_shape(std::move(shape), numel(), this->shape());
  auto st = view_strides(this->shape(), strides(), shape);
  NG_CHECK(st.has_value(), "view: cannot view a tensor of shape ", shape_str(this->shape()),
           " and strides ", shape_str(strides()), " as ", shape_str(shape),
           "; call reshape() (which copies) or contiguous() first");
  Tensor out = make_view(*this, shape, *st, offset());
  const Shape in_shape = this->shape();
  return record("ViewBackward", out, {*this},
                [in_shape](const Tensor& g) -> std::vector<Tensor> { return {g.reshape(in_shape)}; });
}

Tensor Tensor::reshape(Shape shape) const {
  shape = infer_shape(std::move(shape), numel(), this->shape());
  if (view_strides(this->shape(), strides(), shape)) return view(shape);
  return contiguous().view(shape);
}

Tensor Tensor::permute(std::vector<int64_t> dims) const {
  NG_CHECK(int64_t(dims.size()) == dim(), "permute: got ", dims.size(), " dims for a tensor of shape ",
           shape_str(shape()));
  Shape sh(dims.size()), st(dims.size());
  std::vector<int64_t> inverse(dims.size(), -1);
  for (size_t i = 0; i < dims.size(); ++i) {
    const int64_t d = wrap_dim("permute", dims[i], dim());
    NG_CHECK(inverse[d] < 0, "permute: dim ", d, " appears twice in the permutation");
    inverse[d] = int64_t(i);
    sh[i] = shape()[d];
    st[i] = strides()[d];
  }
  Tensor out = make_view(*this, sh, st, offset());
  return record("PermuteBackward", out, {*this},
                [inverse](const Tensor& g) -> std::vector<Tensor> { return {g.permute(inverse)}; });
}

Tensor Tensor::transpose(int64_t d0, int64_t d1) const {
  if (names_a_scalars_dim(d0, dim()) && names_a_scalars_dim(d1, dim())) return permute({});
  std::vector<int64_t> dims(dim());
  for (int64_t i = 0; i < dim(); ++i) dims[i] = i;
  std::swap(dims[wrap_dim("transpose", d0, dim())], dims[wrap_dim("transpose", d1, dim())]);
  return permute(dims);
}

// The gradient of a strided slice: g placed into zeros of the base's shape.
// Differentiable (its own backward slices again), so double backward works.
static Tensor slice_backward(const Tensor& g, const Shape& base_shape, int64_t dim, int64_t start,
                             int64_t step) {
  Tensor out = zeros(base_shape, g.options());
  {
    NoGradGuard no_grad;
    const int64_t len = g.shape()[dim];
    out.slice(dim, start, start + (len - 1) * step + 1, step).copy_(g);
  }
  return record("SliceBackwardBackward", out, {g}, [dim, start, step, len = g.shape()[dim]](const Tensor& gg) {
    return std::vector<Tensor>{gg.slice(dim, start, start + (len - 1) * step + 1, step)};
  });
}

Tensor Tensor::slice(int64_t d, int64_t start, int64_t end, int64_t step) const {
  d = wrap_dim("slice", d, dim());
  const int64_t n = shape()[d];
  NG_CHECK(step > 0, "slice: step must be positive, got ", step);
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  Shape sh = shape(), st = strides();
  sh[d] = (end - start + step - 1) / step;
  st[d] *= step;
  Tensor out = make_view(*this, sh, st, offset() + start * strides()[d]);
  const Shape base = shape();
  return record("SliceBackward", out, {*this}, [base, d, start, step](const Tensor& g) {
    return std::vector<Tensor>{slice_backward(g, base, d, start, step)};
  });
}

Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
  d = wrap_dim("narrow", d, dim());
  NG_CHECK(start >= 0 && length >= 0 && start + length <= shape()[d], "narrow: range [", start, ", ",
           start + length, ") is out of bounds for dim ", d, " of size ", shape()[d], " (shape ",
           shape_str(shape()), ")");
  return slice(d, start, start + length);
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  d = wrap_dim("select", d, dim());
  const int64_t n = shape()[d];
  NG_CHECK(index >= -n && index < n, "select: index ", index, " is out of range for dim ", d,
           " of size ", n);
  if (index < 0) index += n;
  return narrow(d, index, 1).squeeze(d);
}

Tensor Tensor::expand(Shape to) const {
  NG_CHECK(int64_t(to.size()) >= dim(), "expand: cannot expand ", shape_str(shape()), " to ",
           shape_str(to), " (fewer dims)");
  const int64_t lead = int64_t(to.size()) - dim();
  Shape st(to.size(), 0);
  for (int64_t i = 0; i < int64_t(to.size()); ++i) {
    const int64_t d = i - lead;
    if (d < 0) {
      NG_CHECK(to[i] >= 0, "expand: size -1 is not allowed for a new leading dim in ", shape_str(to));
      continue;
    }
    if (to[i] == -1) to[i] = shape()[d];
    if (shape()[d] == to[i]) {
      st[i] = strides()[d];
    } else {
      NG_CHECK(shape()[d] == 1, "expand: cannot expand ", shape_str(shape()), " to ", shape_str(to),
               " (dim ", d, " has size ", shape()[d], ", not 1)");
    }
  }
  Tensor out = make_view(*this, to, st, offset());
  const Shape base = shape();
  return record("ExpandBackward", out, {*this},
                [base](const Tensor& g) { return std::vector<Tensor>{sum_to(g, base)}; });
}

Tensor Tensor::squeeze(int64_t d) const {
  if (names_a_scalars_dim(d, dim())) return view(shape());
  d = wrap_dim("squeeze", d, dim());
  if (shape()[d] != 1) return *this;
  Shape sh = shape();
  sh.erase(sh.begin() + d);
  return view(sh);
}

Tensor Tensor::squeeze() const {
  Shape sh;
  for (int64_t s : shape())
    if (s != 1) sh.push_back(s);
  return view(sh);
}

Tensor Tensor::unsqueeze(int64_t d) const {
  d = wrap_dim("unsqueeze", d, dim() + 1);
  Shape sh = shape();
  sh.insert(sh.begin() + d, 1);
  return view(sh);
}

Tensor Tensor::flatten(int64_t start, int64_t end) const {
  if (dim() == 0) return reshape({1});
  start = wrap_dim("flatten", start, dim());
  end = wrap_dim("flatten", end, dim());
  NG_CHECK(start <= end, "flatten: start_dim ", start, " is after end_dim ", end);
  Shape sh(shape().begin(), shape().begin() + start);
  int64_t n = 1;
  for (int64_t d = start; d <= end; ++d) n *= shape()[d];
  sh.push_back(n);
  sh.insert(sh.end(), shape().begin() + end + 1, shape().end());
  return reshape(sh);
}

// ---- copies -------------------------------------------------------------------

// Copies src (broadcast to dst's shape) into dst, converting the dtype.
// Both on the CPU.
static void cpu_copy(const Tensor& dst, const Tensor& src) {
  const cpu::LoopPlan<2> plan = cpu::plan_loop<2>(dst.shape(), {dst.strides(), cpu::broadcast_strides(src, dst.shape())});
  cpu::dispatch_float(dst.dtype(), [&]<class D>() {
    cpu::dispatch_float(src.dtype(), [&]<class S>() {
      D* d = dst.data<D>();
      const S* s = src.data<S>();
      cpu::for_each_row(plan, [&](const std::array<int64_t, 2>& off, int64_t n, const std::array<int64_t, 2>& st) {
        for (int64_t i = 0; i < n; ++i) d[off[0] + i * st[0]] = D(s[off[1] + i * st[1]]);
      });
    });
  });
}

Tensor& Tensor::copy_(const Tensor& src) {
  check_inplace(*this, "copy_");
  NG_CHECK(src.dim() <= dim(), "copy_: cannot broadcast source ", shape_str(src.shape()),
           " to destination ", shape_str(shape()));
  Tensor s = src.detach();
  if (s.shape() != shape()) s = s.expand(shape());  // throws with both shapes if impossible
  if (device().is_cpu() && s.device().is_cpu()) {
    cpu_copy(*this, s);
  } else {
    device_copy(*this, s);
  }
  return *this;
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), options());
  {
    NoGradGuard no_grad;
    out.copy_(*this);
  }
  return record("CloneBackward", out, {*this}, [](const Tensor& g) { return std::vector<Tensor>{g}; });
}

Tensor Tensor::to(Device d) const {
  if (d == device()) return *this;
  Tensor out = empty(shape(), options().with_device(d));
  {
    NoGradGuard no_grad;
    out.copy_(*this);
  }
  const Device from = device();
  return record("ToDeviceBackward", out, {*this}, [from](const Tensor& g) { return std::vector<Tensor>{g.to(from)}; });
}

Tensor Tensor::to(DType t) const {
  if (t == dtype()) return *this;
  Tensor out = empty(shape(), options().with_dtype(t));
  {
    NoGradGuard no_grad;
    out.copy_(*this);
  }
  const DType from = dtype();
  return record("ToDTypeBackward", out, {*this}, [from](const Tensor& g) { return std::vector<Tensor>{g.to(from)}; });
}

// ---- autograd glue ------------------------------------------------------------

Tensor& Tensor::requires_grad_(bool r) {
  NG_CHECK(is_leaf() || r, "requires_grad_: only leaf tensors can stop requiring grad; use detach()");
  impl_->requires_grad = r;
  return *this;
}

void Tensor::set_grad(const Tensor& g) {
  if (g.defined())
    NG_CHECK(g.shape() == shape(), "set_grad: gradient ", shape_str(g.shape()), " does not match tensor ",
             shape_str(shape()));
  impl_->grad = g.impl();
}

Tensor Tensor::detach() const { return make_view(*this, shape(), strides(), offset()); }

void Tensor::backward(const Tensor& grad, bool retain_graph, bool create_graph) const {
  autograd::backward({*this}, {grad}, retain_graph, create_graph);
}

void check_inplace(const Tensor& t, const char* op) {
  NG_CHECK(!(grad_enabled() && t.requires_grad() && t.is_leaf()), op,
           ": a leaf tensor that requires grad cannot be modified in place while grad mode is on "
           "(wrap the update in NoGradGuard)");
  t.impl()->storage->bump_version();
}

Tensor& Tensor::fill_(double value) {
  check_inplace(*this, "fill_");
  if (device().is_cpu()) {
    cpu::dispatch_float(dtype(), [&]<class T>() { cpu::map<T>(*this, [v = T(value)]() { return v; }); });
  } else {
    device_fill(*this, value);
  }
  return *this;
}

// ---- host access ------------------------------------------------------------

double Tensor::item() const {
  NG_CHECK(numel() == 1, "item: tensor of shape ", shape_str(shape()), " has ", numel(),
           " elements, expected exactly one");
  Tensor c = to(Device::cpu());
  return c.dtype() == DType::f32 ? double(*c.data<float>()) : *c.data<double>();
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  NoGradGuard no_grad;
  const DType want = std::is_same_v<T, double> ? DType::f64 : DType::f32;
  Tensor c = to(Device::cpu()).to(want).contiguous();
  const T* p = c.data<T>();
  return std::vector<T>(p, p + c.numel());
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;

std::string Tensor::str(int64_t max_per_dim) const {
  if (!defined()) return "tensor(undefined)";
  const std::vector<double> v = to_vector<double>();
  const Shape& sh = shape();
  std::ostringstream os;
  os << std::setprecision(dtype() == DType::f32 ? 5 : 8);
  // Prints the block of dim d starting at flat index `base`, eliding the
  // middle of dims longer than max_per_dim. Depth is bounded by dim().
  auto print = [&](auto&& self, int64_t d, int64_t base, int64_t block) -> void {
    if (d == dim()) {
      os << v[base];
      return;
    }
    const int64_t n = sh[d], sub = n ? block / n : 0;
    os << "[";
    for (int64_t i = 0; i < n; ++i) {
      if (n > max_per_dim && i == max_per_dim / 2) {
        os << "..., ";
        i = n - max_per_dim / 2;
      }
      self(self, d + 1, base + i * sub, sub);
      if (i + 1 < n) os << (d + 1 == dim() ? ", " : ",\n" + std::string(size_t(d + 8), ' '));
    }
    os << "]";
  };
  os << "tensor(";
  print(print, 0, 0, numel());
  os << ", shape=" << shape_str(sh) << ", dtype=" << dtype_name(dtype());
  if (!device().is_cpu()) os << ", device=" << device().str();
  if (requires_grad()) os << ", requires_grad";
  os << ")";
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

// ---- factories ---------------------------------------------------------------

Tensor empty(const Shape& shape, TensorOptions opts) {
  // The strides multiply every size (an empty dimension counts as 1), so
  // their product must fit, in bytes too: a corrupt file's header must not
  // make it overflow.
  int64_t span = int64_t(dtype_size(opts.dtype));
  for (int64_t s : shape) {
    NG_CHECK(s >= 0, "empty: negative size in shape ", shape_str(shape));
    NG_CHECK(!__builtin_mul_overflow(span, std::max<int64_t>(s, 1), &span), "empty: shape ", shape_str(shape),
             " is too large to address");
  }
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(size_t(shape_numel(shape)) * dtype_size(opts.dtype), opts.device);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = opts.dtype;
  impl->requires_grad = opts.requires_grad;
  return Tensor(std::move(impl));
}

Tensor full(const Shape& shape, double value, TensorOptions opts) {
  const bool rg = opts.requires_grad;
  Tensor t = empty(shape, opts.with_requires_grad(false));
  t.fill_(value);
  return t.requires_grad_(rg);
}
Tensor zeros(const Shape& shape, TensorOptions opts) { return full(shape, 0.0, opts); }
Tensor ones(const Shape& shape, TensorOptions opts) { return full(shape, 1.0, opts); }
Tensor scalar_tensor(double value, TensorOptions opts) { return full({}, value, opts); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), t.options()); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), t.options()); }
Tensor full_like(const Tensor& t, double value) { return full(t.shape(), value, t.options()); }
Tensor empty_like(const Tensor& t) { return empty(t.shape(), t.options()); }

// Builds on the CPU in double, then converts: exact for every value these
// factories can produce in float32 too.
static Tensor from_doubles(const std::vector<double>& v, const Shape& shape, TensorOptions opts) {
  NG_CHECK(int64_t(v.size()) == shape_numel(shape), "from_vector: ", v.size(),
           " values do not fill shape ", shape_str(shape), " (", shape_numel(shape), " elements)");
  Tensor host = empty(shape, TensorOptions{}.with_dtype(DType::f64));
  std::copy(v.begin(), v.end(), host.data<double>());
  Tensor out = empty(shape, opts.with_requires_grad(false));
  out.copy_(host);
  return out.requires_grad_(opts.requires_grad);
}

Tensor arange(double end, TensorOptions opts) { return arange(0, end, 1, opts); }

Tensor arange(double start, double end, double step, TensorOptions opts) {
  NG_CHECK(step != 0, "arange: step must be non-zero");
  const int64_t n = std::max<int64_t>(0, int64_t(std::ceil((end - start) / step)));
  std::vector<double> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = start + double(i) * step;
  return from_doubles(v, {n}, opts);
}

Tensor linspace(double start, double end, int64_t steps, TensorOptions opts) {
  NG_CHECK(steps >= 0, "linspace: steps must be non-negative, got ", steps);
  std::vector<double> v(steps);
  for (int64_t i = 0; i < steps; ++i)
    v[i] = steps == 1 ? start : start + (end - start) * double(i) / double(steps - 1);
  return from_doubles(v, {steps}, opts);
}

Tensor from_vector(const std::vector<float>& values, const Shape& shape, TensorOptions opts) {
  return from_doubles(std::vector<double>(values.begin(), values.end()), shape, opts);
}

Tensor from_vector(const std::vector<double>& values, const Shape& shape, TensorOptions opts) {
  return from_doubles(values, shape, opts);
}

}  // namespace ng
