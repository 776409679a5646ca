// Reverse-mode autograd: a dynamic tape of Nodes, as in PyTorch.
//
// Every differentiable op that sees an input requiring grad gives its output a
// Node. The Node keeps what backward needs (SavedTensors) and one Edge per
// input: either the Node that produced that input, or the leaf tensor itself,
// where the gradient is accumulated. backward() walks the Nodes in reverse
// topological order (an iterative DFS, so deep graphs are fine).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace ng {

// ---- grad mode ----
bool grad_enabled();
void set_grad_enabled(bool enabled);

// Disables recording for its scope (evaluation, optimizer updates).
class NoGradGuard {
 public:
  NoGradGuard() : prev_(grad_enabled()) { set_grad_enabled(false); }
  ~NoGradGuard() { set_grad_enabled(prev_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

// Sets grad mode to a given value for its scope.
class GradModeGuard {
 public:
  explicit GradModeGuard(bool enabled) : prev_(grad_enabled()) { set_grad_enabled(enabled); }
  ~GradModeGuard() { set_grad_enabled(prev_); }
  GradModeGuard(const GradModeGuard&) = delete;
  GradModeGuard& operator=(const GradModeGuard&) = delete;

 private:
  bool prev_;
};

// A tensor saved for backward. It remembers the storage version at save time
// and refuses to be used if the tensor was modified in place since.
//
// A non-leaf is stored without its grad_fn and relinked through a weak
// pointer when unpacked: the node's own edges keep that grad_fn alive, and a
// strong link here would make an op's output own its own node (a cycle) and
// make destroying a long graph recurse once per node.
class SavedTensor {
 public:
  SavedTensor() = default;
  SavedTensor(const Tensor& t);  // NOLINT: implicit on purpose
  // For an op's own output, saved before record() gives it a node: stored
  // without history and linked, when unpacked, to the node being run (which
  // is that very node). Saving it as an ordinary tensor would make the
  // output and its node own each other, and the graph would never be freed.
  static SavedTensor output(const Tensor& out);
  Tensor get() const;
  bool defined() const { return data_.defined(); }

 private:
  Tensor data_;
  uint64_t version_ = 0;
  bool relink_ = false;
  bool is_output_ = false;
  std::weak_ptr<Node> grad_fn_;
};

struct Edge {
  std::shared_ptr<Node> fn;           // the input was made by an op, or
  std::shared_ptr<TensorImpl> leaf;   // the input is a leaf that requires grad
  bool valid() const { return fn || leaf; }
};

struct Node : std::enable_shared_from_this<Node> {
  std::string name;              // "MulBackward", for error messages
  std::vector<Edge> next;        // one per input
  std::vector<Shape> input_shapes;
  std::vector<DType> input_dtypes;
  std::vector<Device> input_devices;
  bool released = false;

  // Releases the graph behind it iteratively, not by recursion.
  virtual ~Node();
  // Gradients w.r.t. each input (undefined where an input needs none).
  virtual std::vector<Tensor> apply(const Tensor& grad_output) = 0;
  // Frees the saved tensors after backward (unless retain_graph).
  virtual void release() = 0;
};

using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;

// A Node whose backward is a lambda; its captures are the saved tensors.
struct FunctionNode final : Node {
  BackwardFn fn;
  std::vector<Tensor> apply(const Tensor& grad_output) override { return fn(grad_output); }
  void release() override { fn = nullptr; released = true; }
};

// True when grad mode is on and some input requires grad.
bool needs_grad(std::initializer_list<Tensor> inputs);
bool needs_grad(const std::vector<Tensor>& inputs);

// Records `out` as the result of a differentiable op over `inputs`: gives it
// a FunctionNode running `backward`. Does nothing unless needs_grad(inputs).
// Returns `out` for convenience.
Tensor record(const char* name, Tensor out, const std::vector<Tensor>& inputs, BackwardFn backward);

// Reduces a gradient of broadcast shape back to `shape` by summing over the
// broadcast dimensions (the one place every binary op's backward uses).
Tensor sum_to(const Tensor& grad, const Shape& shape);

namespace autograd {

// Accumulates d(sum of outputs * grad_outputs)/d(leaf) into every leaf's grad.
void backward(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs,
              bool retain_graph = false, bool create_graph = false);

// Returns d(outputs)/d(inputs) without touching any .grad. With create_graph
// the results are themselves differentiable (gradient penalties).
// An input the outputs do not depend on gets a zero gradient when
// allow_unused, else an error.
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs = {}, bool retain_graph = false,
                         bool create_graph = false, bool allow_unused = false);

// Tells, during backward(), when each leaf's gradient is final: as soon as
// no node still to run can add to the leaf's .grad, `ready(leaf)` is called
// (once per leaf the walk reaches, its .grad undefined where no gradient
// arrived). Data-parallel training uses it to send a layer's gradients to the
// other ranks while the backward pass goes on through the layers below
// (dist/gradient_buckets.h). Installed for its scope, on this thread;
// autograd::grad() does not report.
class LeafReadyHook {
 public:
  explicit LeafReadyHook(std::function<void(const Tensor& leaf)> ready);
  ~LeafReadyHook();
  LeafReadyHook(const LeafReadyHook&) = delete;
  LeafReadyHook& operator=(const LeafReadyHook&) = delete;

  // The innermost hook of this thread, or null.
  static LeafReadyHook* active();
  void report(const Tensor& leaf) const { ready_(leaf); }

 private:
  std::function<void(const Tensor& leaf)> ready_;
  LeafReadyHook* outer_;
};

}  // namespace autograd
}  // namespace ng
