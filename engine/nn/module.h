// Module: named parameters, buffers and submodules, as in torch.nn.Module.
//
// A module registers pointers to its own Tensor members, so a model's
// state_dict() has the dotted names of the PyTorch twin ("enc.0.weight") and
// a checkpoint moves between nanogen and PyTorch unchanged.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace ng::nn {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// The tensors of a named list, in order, and their number of elements.
std::vector<Tensor> tensors_of(const NamedTensors& named);
int64_t count_elements(const NamedTensors& named);

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // Single-input modules override this; others define their own call.
  virtual Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }

  NamedTensors named_parameters() const;  // recursive, registration order
  std::vector<Tensor> parameters() const;
  NamedTensors named_buffers() const;
  NamedTensors state_dict() const;  // parameters then buffers, per module
  int64_t num_parameters() const;

  // Copies values into the existing tensors. Every name must be present with
  // the same shape (any float dtype converts); all problems are reported in
  // one error. Unexpected names are an error unless strict is false.
  void load_state_dict(const NamedTensors& state, bool strict = true);

  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  void to(Device device);  // moves parameters and buffers in place
  void zero_grad();

 protected:
  Tensor& register_parameter(const std::string& name, Tensor& member);
  Tensor& register_buffer(const std::string& name, Tensor& member);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    children_.emplace_back(name, m);
    return m;
  }
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const { return children_; }

 private:
  void collect(const std::string& prefix, bool params, bool buffers, std::vector<std::pair<std::string, Tensor*>>& out) const;

  std::vector<std::pair<std::string, Tensor*>> params_;
  std::vector<std::pair<std::string, Tensor*>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

}  // namespace ng::nn
