// Tensor: a strided view of shared storage, plus what autograd needs.
//
// A Tensor is a cheap handle (a shared_ptr) to a TensorImpl. Views (reshape,
// permute, narrow, expand, ...) make a new TensorImpl over the same Storage
// with other shape/strides/offset, so writes through one are seen by all.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "engine/device.h"

namespace ng {

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& s);  // "[8,3,28,28]"
int64_t shape_numel(const Shape& s);
Shape contiguous_strides(const Shape& s);
// Wraps a dim index of a tensor with `ndim` dims (negative counts from the
// end) or throws naming `op`. A 0-d tensor has no dim to name.
int64_t wrap_dim(const char* op, int64_t dim, int64_t ndim);

struct Node;

// Raw bytes on one device. The version counter is bumped by every in-place
// write, so autograd can tell when a tensor it saved has been modified.
class Storage {
 public:
  Storage(size_t nbytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  uint64_t version() const { return version_; }
  void bump_version() { ++version_; }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Device device_;
  uint64_t version_ = 0;
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;       // in elements
  int64_t offset = 0;  // in elements
  DType dtype = DType::f32;

  // autograd
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;  // accumulated by backward (leaves only)
  std::shared_ptr<Node> grad_fn;     // the op that made it (non-leaves only)
};

struct TensorOptions {
  DType dtype = DType::f32;
  Device device = Device::cpu();
  bool requires_grad = false;

  // Copies with one field changed.
  TensorOptions with_dtype(DType d) const { TensorOptions o = *this; o.dtype = d; return o; }
  TensorOptions with_device(Device d) const { TensorOptions o = *this; o.device = d; return o; }
  TensorOptions with_requires_grad(bool r = true) const { TensorOptions o = *this; o.requires_grad = r; return o; }
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }
  const std::shared_ptr<TensorImpl>& impl() const { return impl_; }

  // ---- metadata ----
  const Shape& shape() const { return impl_->shape; }
  const Shape& strides() const { return impl_->strides; }
  int64_t offset() const { return impl_->offset; }
  int64_t dim() const { return int64_t(impl_->shape.size()); }
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t stride(int64_t d) const;
  int64_t numel() const { return shape_numel(impl_->shape); }
  DType dtype() const { return impl_->dtype; }
  Device device() const { return impl_->storage->device(); }
  TensorOptions options() const { return {dtype(), device(), false}; }
  bool is_contiguous() const;
  bool shares_storage(const Tensor& other) const;

  // Pointer to element 0 of this view. T must match dtype(); the data may be
  // on a GPU (only kernels may dereference it then).
  template <class T> T* data() const;
  void* raw_data() const;

  // ---- views: share storage, never copy ----
  Tensor view(Shape shape) const;       // needs compatible strides; -1 infers
  Tensor reshape(Shape shape) const;    // a view when possible, else a copy
  Tensor permute(std::vector<int64_t> dims) const;
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor t() const { return transpose(0, 1); }
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor select(int64_t dim, int64_t index) const;  // drops dim
  Tensor expand(Shape shape) const;                 // -1 keeps a size
  Tensor squeeze(int64_t dim) const;
  Tensor squeeze() const;  // all size-1 dims
  Tensor unsqueeze(int64_t dim) const;
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;

  // ---- copies ----
  Tensor contiguous() const;  // itself when already contiguous
  Tensor clone() const;       // always a fresh contiguous copy
  Tensor to(Device device) const;
  Tensor to(DType dtype) const;

  // ---- autograd ----
  bool requires_grad() const { return impl_->requires_grad; }
  Tensor& requires_grad_(bool on = true);
  bool is_leaf() const { return impl_->grad_fn == nullptr; }
  const std::shared_ptr<Node>& grad_fn() const { return impl_->grad_fn; }
  Tensor grad() const { return Tensor(impl_->grad); }
  void set_grad(const Tensor& g);
  void zero_grad() { impl_->grad.reset(); }
  Tensor detach() const;  // same storage, no history
  // Back-propagates from this tensor. Without `grad` it must hold one element.
  void backward(const Tensor& grad = {}, bool retain_graph = false,
                bool create_graph = false) const;

  // ---- in place (not recorded by autograd) ----
  Tensor& fill_(double value);
  Tensor& zero_() { return fill_(0.0); }
  Tensor& copy_(const Tensor& src);  // broadcasts src; converts dtype/device

  // ---- host access ----
  double item() const;  // one element
  template <class T> std::vector<T> to_vector() const;  // row-major copy
  std::string str(int64_t max_per_dim = 6) const;

 private:
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// Makes a view of `base`'s storage with the given geometry (no checks).
Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset);
// Throws unless the in-place write into t is legal (not a leaf that requires
// grad while grad mode is on) and bumps its version.
void check_inplace(const Tensor& t, const char* op);

// ---- factories ----
Tensor empty(const Shape& shape, TensorOptions opts = {});
Tensor zeros(const Shape& shape, TensorOptions opts = {});
Tensor ones(const Shape& shape, TensorOptions opts = {});
Tensor full(const Shape& shape, double value, TensorOptions opts = {});
Tensor scalar_tensor(double value, TensorOptions opts = {});
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor full_like(const Tensor& t, double value);
Tensor empty_like(const Tensor& t);
Tensor arange(double end, TensorOptions opts = {});
Tensor arange(double start, double end, double step = 1.0, TensorOptions opts = {});
Tensor linspace(double start, double end, int64_t steps, TensorOptions opts = {});
Tensor from_vector(const std::vector<float>& values, const Shape& shape, TensorOptions opts = {});
Tensor from_vector(const std::vector<double>& values, const Shape& shape,
                   TensorOptions opts = TensorOptions{}.with_dtype(DType::f64));

}  // namespace ng
