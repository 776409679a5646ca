#include "engine/autograd.h"

#include <unordered_map>
#include <unordered_set>

#include "engine/autograd_trace.h"
#include "engine/error.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/reduce.h"

namespace ng {

// ---- grad mode ----------------------------------------------------------------

static thread_local bool g_grad_enabled = true;
bool grad_enabled() { return g_grad_enabled; }
void set_grad_enabled(bool enabled) { g_grad_enabled = enabled; }

// ---- saved tensors --------------------------------------------------------------

SavedTensor::SavedTensor(const Tensor& t) {
  if (!t.defined()) return;
  version_ = t.impl()->storage->version();
  relink_ = t.grad_fn() != nullptr;
  if (relink_) {
    data_ = t.detach();
    grad_fn_ = t.grad_fn();
  } else {
    data_ = t;  // a leaf: the very tensor, so second-order grads reach it
  }
}

// The node whose backward is running on this thread (for SavedTensor::output).
static thread_local Node* g_running_node = nullptr;

SavedTensor SavedTensor::output(const Tensor& out) {
  SavedTensor s;
  if (!out.defined()) return s;
  s.version_ = out.impl()->storage->version();
  s.data_ = out.detach();
  s.is_output_ = true;
  return s;
}

Tensor SavedTensor::get() const {
  if (!data_.defined()) return data_;
  NG_CHECK(data_.impl()->storage->version() == version_,
           "autograd: a tensor of shape ", shape_str(data_.shape()), " saved for backward was modified "
           "in place after it was saved (version ", version_, " -> ", data_.impl()->storage->version(),
           "); clone it before modifying, or modify it before using it");
  if (is_output_) {
    Tensor t = data_.detach();
    if (g_running_node) {
      t.impl()->grad_fn = g_running_node->shared_from_this();
      t.impl()->requires_grad = true;
    }
    return t;
  }
  if (!relink_) return data_;
  Tensor t = data_.detach();
  t.impl()->requires_grad = true;
  t.impl()->grad_fn = grad_fn_.lock();
  return t;
}

// ---- graph lifetime ---------------------------------------------------------------

Node::~Node() {
  // Take over the edges of every node that dies with this one, so that a
  // chain of a million nodes is freed in a loop instead of a million nested
  // destructor calls.
  std::vector<std::shared_ptr<Node>> dying;
  for (Edge& e : next)
    if (e.fn) dying.push_back(std::move(e.fn));
  while (!dying.empty()) {
    std::shared_ptr<Node> n = std::move(dying.back());
    dying.pop_back();
    if (n.use_count() == 1)
      for (Edge& e : n->next)
        if (e.fn) dying.push_back(std::move(e.fn));
  }
}

// ---- recording ------------------------------------------------------------------

bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!grad_enabled()) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

bool needs_grad(std::initializer_list<Tensor> inputs) {
  return needs_grad(std::vector<Tensor>(inputs));
}

Tensor record(const char* name, Tensor out, const std::vector<Tensor>& inputs, BackwardFn backward) {
  if (!needs_grad(inputs)) return out;
  auto node = std::make_shared<FunctionNode>();
  node->name = name;
  node->fn = std::move(backward);
  for (const Tensor& t : inputs) {
    Edge e;
    if (t.defined() && t.requires_grad()) {
      if (t.grad_fn())
        e.fn = t.grad_fn();
      else
        e.leaf = t.impl();
    }
    node->next.push_back(std::move(e));
    node->input_shapes.push_back(t.defined() ? t.shape() : Shape{});
    node->input_dtypes.push_back(t.defined() ? t.dtype() : DType::f32);
    node->input_devices.push_back(t.defined() ? t.device() : Device::cpu());
  }
  out.impl()->requires_grad = true;
  out.impl()->grad_fn = std::move(node);
  return out;
}

Tensor sum_to(const Tensor& grad, const Shape& shape) {
  if (grad.shape() == shape) return grad;
  const int64_t lead = grad.dim() - int64_t(shape.size());
  NG_CHECK(lead >= 0, "sum_to: gradient ", shape_str(grad.shape()), " has fewer dims than ", shape_str(shape));
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < grad.dim(); ++d) {
    if (d < lead) {
      dims.push_back(d);
    } else if (shape[d - lead] == 1 && grad.shape()[d] != 1) {
      dims.push_back(d);
    } else {
      NG_CHECK(shape[d - lead] == grad.shape()[d], "sum_to: gradient ", shape_str(grad.shape()),
               " cannot be reduced to ", shape_str(shape));
    }
  }
  Tensor r = dims.empty() ? grad : sum(grad, dims, /*keepdim=*/true);
  return r.reshape(shape);
}

// ---- the backward walk ------------------------------------------------------------

namespace {

// Nodes reachable from `roots`, in an order where every node comes before
// the nodes it feeds gradients to (reverse post-order of an iterative DFS).
std::vector<Node*> topological_order(const std::vector<Node*>& roots) {
  std::vector<Node*> post;
  std::unordered_set<Node*> seen;
  std::vector<std::pair<Node*, size_t>> stack;  // node, next edge to visit
  for (Node* r : roots) {
    if (!r || !seen.insert(r).second) continue;
    stack.push_back({r, 0});
    while (!stack.empty()) {
      auto& [node, i] = stack.back();
      if (i < node->next.size()) {
        Node* child = node->next[i++].fn.get();
        if (child && seen.insert(child).second) stack.push_back({child, 0});
      } else {
        post.push_back(node);
        stack.pop_back();
      }
    }
  }
  return {post.rbegin(), post.rend()};
}

Tensor accumulate(const Tensor& acc, const Tensor& g) { return acc.defined() ? add(acc, g) : g; }

void check_grad_matches(const Node& node, size_t i, const Tensor& g) {
  NG_CHECK(g.shape() == node.input_shapes[i], "autograd: ", node.name, " returned a gradient of shape ",
           shape_str(g.shape()), " for input ", i, " of shape ", shape_str(node.input_shapes[i]));
  NG_CHECK(g.dtype() == node.input_dtypes[i], "autograd: ", node.name, " returned a ", dtype_name(g.dtype()),
           " gradient for a ", dtype_name(node.input_dtypes[i]), " input");
  NG_CHECK(g.device() == node.input_devices[i], "autograd: ", node.name, " returned a gradient on ",
           g.device().str(), " for an input on ", node.input_devices[i].str());
}

Tensor default_root_grad(const Tensor& out, const Tensor& given) {
  if (given.defined()) {
    NG_CHECK(given.shape() == out.shape(), "backward: gradient of shape ", shape_str(given.shape()),
             " given for an output of shape ", shape_str(out.shape()));
    return given;
  }
  NG_CHECK(out.numel() == 1, "backward: the output has shape ", shape_str(out.shape()),
           "; a gradient can be implied only for a single element, pass one for the rest");
  return ones_like(out);
}

// Runs the graph from the outputs. For backward(), leaf gradients accumulate
// into each leaf's .grad; for grad(), they are collected in `leaf_grads`
// (`node_grads` for inputs that are not leaves), and only the `needed` nodes,
// those on a path to an input, are run.
struct Walk {
  bool retain_graph = false;
  bool create_graph = false;
  std::unordered_map<TensorImpl*, Tensor>* leaf_grads = nullptr;  // grad(): collected here
  std::unordered_map<Node*, Tensor>* node_grads = nullptr;       // grad(): non-leaf inputs
  std::unordered_set<Node*>* needed = nullptr;                    // grad(): nodes on a path to an input

  void run(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs) {
    NG_CHECK(grad_outputs.empty() || grad_outputs.size() == outputs.size(), "backward: ", outputs.size(),
             " outputs but ", grad_outputs.size(), " gradients");
    GradModeGuard mode(create_graph);
    std::vector<Node*> roots;
    for (const Tensor& out : outputs)
      if (out.grad_fn()) roots.push_back(out.grad_fn().get());
    const std::vector<Node*> order = topological_order(roots);
    if (leaf_grads == nullptr && autograd::LeafReadyHook::active()) count_leaf_edges(outputs, order);
    std::unordered_map<Node*, Tensor> pending;
    for (size_t i = 0; i < outputs.size(); ++i) {
      const Tensor& out = outputs[i];
      NG_CHECK(out.requires_grad(), "backward: output ", i, " of shape ", shape_str(out.shape()),
               " does not require grad and has no grad_fn (was it computed under NoGradGuard, or detached?)");
      Tensor g = default_root_grad(out, grad_outputs.empty() ? Tensor() : grad_outputs[i]);
      if (out.grad_fn()) {
        pending[out.grad_fn().get()] = accumulate(pending[out.grad_fn().get()], g);
      } else {
        deliver_to_leaf(out.impl(), std::move(g));
      }
    }
    for (const Tensor& out : outputs)
      if (!out.grad_fn()) leaf_edge_spent(out.impl());
    for (Node* node : order) {
      run_node(node, pending);
      // Whether it ran or not, this node's edges to leaves are now spent.
      if (!leaf_edges_left.empty())
        for (const Edge& e : node->next)
          if (e.leaf) leaf_edge_spent(e.leaf);
    }
  }

  void run_node(Node* node, std::unordered_map<Node*, Tensor>& pending) {
    auto it = pending.find(node);
    if (it == pending.end()) return;  // no gradient reached it
    Tensor g = std::move(it->second);
    pending.erase(it);
    if (node_grads && node_grads->count(node)) (*node_grads)[node] = g;
    if (needed && !needed->count(node)) return;
    NG_CHECK(!node->released, "autograd: trying to backward through ", node->name,
             " a second time, but its saved tensors were freed by the first backward; "
             "pass retain_graph=true to the first backward to keep them");
    Node* const outer = g_running_node;
    g_running_node = node;
    std::vector<Tensor> grads;
    try {
      grads = node->apply(g);
    } catch (...) {
      g_running_node = outer;
      throw;
    }
    g_running_node = outer;
    if (autograd::BackwardTrace* trace = autograd::BackwardTrace::active()) trace->add({node->name, g, grads});
    NG_CHECK(grads.size() == node->next.size(), "autograd: ", node->name, " returned ", grads.size(),
             " gradients for ", node->next.size(), " inputs");
    if (!retain_graph) node->release();
    g = Tensor();  // a backward may pass its gradient through: then this handle is not the last
    for (size_t i = 0; i < grads.size(); ++i) {
      const Edge& e = node->next[i];
      if (!e.valid() || !grads[i].defined()) continue;
      check_grad_matches(*node, i, grads[i]);
      if (e.fn)
        pending[e.fn.get()] = accumulate(pending[e.fn.get()], grads[i]);
      else
        deliver_to_leaf(e.leaf, std::move(grads[i]));
    }
  }

  // LeafReadyHook: for each leaf, the edges still to be walked that end in it.
  std::unordered_map<TensorImpl*, int64_t> leaf_edges_left;

  void count_leaf_edges(const std::vector<Tensor>& outputs, const std::vector<Node*>& order) {
    for (const Tensor& out : outputs)
      if (!out.grad_fn()) ++leaf_edges_left[out.impl().get()];
    for (const Node* node : order)
      for (const Edge& e : node->next)
        if (e.leaf) ++leaf_edges_left[e.leaf.get()];
  }

  // One edge into `leaf` has been walked (or will never carry a gradient);
  // after its last, the leaf's gradient is final.
  void leaf_edge_spent(const std::shared_ptr<TensorImpl>& leaf) {
    auto it = leaf_edges_left.find(leaf.get());
    if (it == leaf_edges_left.end() || --it->second > 0) return;
    leaf_edges_left.erase(it);
    autograd::LeafReadyHook::active()->report(Tensor(leaf));
  }

  // Takes g by value: a caller done with its gradient moves it in, so that
  // the first gradient of a leaf can be adopted rather than copied.
  void deliver_to_leaf(const std::shared_ptr<TensorImpl>& leaf, Tensor g) {
    if (leaf_grads) {
      auto it = leaf_grads->find(leaf.get());
      if (it != leaf_grads->end()) it->second = accumulate(it->second, g);
      return;
    }
    Tensor current(leaf->grad);
    if (!current.defined() && !create_graph && sole_dense_owner(g)) {
      leaf->grad = g.impl();  // adopted: nothing else can see it
      return;
    }
    // Otherwise the first gradient is copied: g may alias another tensor's
    // gradient or the caller's, or be a stride-0 expansion, and .grad is
    // later written in place (clipping, all-reduce).
    Tensor next = current.defined() ? add(current, g) : (create_graph ? g : g.clone());
    if (!create_graph) next = next.detach();
    leaf->grad = next.impl();
  }

  // Whether `g` (the caller's last handle on it) is the only handle on its
  // memory, dense from its start, and outside any graph: then it can become
  // .grad as it is, instead of through a copy. This is a weight's gradient
  // as its op's backward makes it; a gradient shared with another input,
  // kept by a trace, or handed in by the caller has other handles.
  static bool sole_dense_owner(const Tensor& g) {
    const std::shared_ptr<TensorImpl>& impl = g.impl();
    return impl.use_count() == 1 && impl->storage.use_count() == 1 && !impl->requires_grad && !impl->grad_fn &&
           impl->offset == 0 && g.is_contiguous() &&
           impl->storage->nbytes() == size_t(g.numel()) * dtype_size(g.dtype());
  }
};

}  // namespace

namespace autograd {

static thread_local LeafReadyHook* g_leaf_ready_hook = nullptr;

LeafReadyHook::LeafReadyHook(std::function<void(const Tensor& leaf)> ready)
    : ready_(std::move(ready)), outer_(g_leaf_ready_hook) {
  g_leaf_ready_hook = this;
}
LeafReadyHook::~LeafReadyHook() { g_leaf_ready_hook = outer_; }
LeafReadyHook* LeafReadyHook::active() { return g_leaf_ready_hook; }

void backward(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs, bool retain_graph,
              bool create_graph) {
  Walk w;
  w.retain_graph = retain_graph || create_graph;
  w.create_graph = create_graph;
  w.run(outputs, grad_outputs);
}

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs, bool retain_graph, bool create_graph,
                         bool allow_unused) {
  std::unordered_map<TensorImpl*, Tensor> leaf_grads;
  std::unordered_map<Node*, Tensor> node_grads;
  std::unordered_set<Node*> targets;
  for (const Tensor& in : inputs) {
    NG_CHECK(in.requires_grad(), "autograd::grad: an input of shape ", shape_str(in.shape()),
             " does not require grad");
    if (in.grad_fn()) {
      node_grads[in.grad_fn().get()] = Tensor();
      targets.insert(in.grad_fn().get());
    } else {
      leaf_grads[in.impl().get()] = Tensor();
    }
  }
  // A node is needed when some path from it reaches an input: then its
  // backward must run. Decided in reverse topological order.
  std::vector<Node*> roots;
  for (const Tensor& o : outputs)
    if (o.grad_fn()) roots.push_back(o.grad_fn().get());
  std::vector<Node*> order = topological_order(roots);
  std::unordered_set<Node*> needed;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    Node* n = *it;
    for (const Edge& e : n->next) {
      if ((e.fn && (needed.count(e.fn.get()) || targets.count(e.fn.get()))) ||
          (e.leaf && leaf_grads.count(e.leaf.get()))) {
        needed.insert(n);
        break;
      }
    }
  }
  Walk w;
  w.retain_graph = retain_graph || create_graph;
  w.create_graph = create_graph;
  w.leaf_grads = &leaf_grads;
  w.node_grads = &node_grads;
  w.needed = &needed;
  w.run(outputs, grad_outputs);

  std::vector<Tensor> result;
  for (const Tensor& in : inputs) {
    Tensor g = in.grad_fn() ? node_grads[in.grad_fn().get()] : leaf_grads[in.impl().get()];
    if (!g.defined()) {
      NG_CHECK(allow_unused, "autograd::grad: the outputs do not depend on an input of shape ",
               shape_str(in.shape()), " (pass allow_unused=true to get zeros)");
      g = zeros_like(in);
    }
    result.push_back(create_graph ? g : g.detach());
  }
  return result;
}

}  // namespace autograd
}  // namespace ng
