#include "engine/nn/module.h"

#include <set>
#include <sstream>

#include "engine/autograd.h"
#include "engine/error.h"

namespace ng::nn {

Tensor Module::forward(const Tensor&) {
  throw Error("Module::forward: this module does not take a single tensor");
}

Tensor& Module::register_parameter(const std::string& name, Tensor& member) {
  NG_CHECK(member.defined(), "register_parameter: '", name, "' is undefined");
  member.requires_grad_(true);
  params_.emplace_back(name, &member);
  return member;
}

Tensor& Module::register_buffer(const std::string& name, Tensor& member) {
  buffers_.emplace_back(name, &member);
  return member;
}

void Module::collect(const std::string& prefix, bool params, bool buffers,
                     std::vector<std::pair<std::string, Tensor*>>& out) const {
  if (params)
    for (const auto& [n, t] : params_) out.emplace_back(prefix + n, t);
  if (buffers)
    for (const auto& [n, t] : buffers_) out.emplace_back(prefix + n, t);
  for (const auto& [n, child] : children_) child->collect(prefix + n + ".", params, buffers, out);
}

static NamedTensors values(const std::vector<std::pair<std::string, Tensor*>>& refs) {
  NamedTensors out;
  for (const auto& [n, t] : refs) out.emplace_back(n, *t);
  return out;
}

NamedTensors Module::named_parameters() const {
  std::vector<std::pair<std::string, Tensor*>> refs;
  collect("", true, false, refs);
  return values(refs);
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_parameters()) out.push_back(t);
  return out;
}

NamedTensors Module::named_buffers() const {
  std::vector<std::pair<std::string, Tensor*>> refs;
  collect("", false, true, refs);
  return values(refs);
}

NamedTensors Module::state_dict() const {
  std::vector<std::pair<std::string, Tensor*>> refs;
  collect("", true, true, refs);
  return values(refs);
}

std::vector<Tensor> tensors_of(const NamedTensors& named) {
  std::vector<Tensor> out;
  for (const auto& [name, t] : named) out.push_back(t);
  return out;
}

int64_t count_elements(const NamedTensors& named) {
  int64_t n = 0;
  for (const auto& [name, t] : named) n += t.numel();
  return n;
}

int64_t Module::num_parameters() const { return count_elements(named_parameters()); }

void Module::load_state_dict(const NamedTensors& state, bool strict) {
  std::vector<std::pair<std::string, Tensor*>> refs;
  collect("", true, true, refs);
  std::map<std::string, const Tensor*> given;
  for (const auto& [n, t] : state) given[n] = &t;

  std::ostringstream problems;
  std::set<std::string> known;
  for (const auto& [name, target] : refs) {
    known.insert(name);
    auto it = given.find(name);
    if (it == given.end()) {
      problems << "\n  missing: " << name << " " << shape_str(target->shape());
    } else if (it->second->shape() != target->shape()) {
      problems << "\n  shape mismatch: " << name << " is " << shape_str(it->second->shape()) << ", the model expects "
               << shape_str(target->shape());
    }
  }
  if (strict)
    for (const auto& [n, t] : state)
      if (!known.count(n)) problems << "\n  unexpected: " << n << " " << shape_str(t.shape());
  NG_CHECK(problems.str().empty(), "load_state_dict: the state does not match the model:", problems.str());

  NoGradGuard no_grad;
  for (const auto& [name, target] : refs) target->copy_(*given.at(name));
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [n, child] : children_) child->train(on);
}

void Module::to(Device device) {
  std::vector<std::pair<std::string, Tensor*>> refs;
  collect("", true, true, refs);
  NoGradGuard no_grad;
  for (auto& [n, t] : refs) {
    if (t->device() == device) continue;
    const bool rg = t->requires_grad();
    *t = t->to(device).detach();
    t->requires_grad_(rg);
  }
}

void Module::zero_grad() {
  for (Tensor& p : parameters()) p.zero_grad();
}

}  // namespace ng::nn
