// A record of a backward walk, for learning and debugging: which nodes ran,
// in which order, what gradient each received and what it sent on.
//
//   autograd::BackwardTrace trace;  // records while it lives, on this thread
//   loss.backward();
//   std::printf("%s", trace.str().c_str());
//
// docs/autograd.md traces an expression by hand and prints the same numbers
// with it. Costs nothing when no trace is alive (one pointer test per node).
#pragma once

#include <string>
#include <vector>

#include "engine/tensor.h"

namespace ng::autograd {

// One node run by a backward walk.
struct TraceStep {
  std::string node;                  // "MulBackward"
  Tensor grad_output;                // what it received: the sum over its output's consumers
  std::vector<Tensor> grad_inputs;   // what it sent, one per input (undefined where none is needed)
};

class BackwardTrace {
 public:
  BackwardTrace();
  ~BackwardTrace();
  BackwardTrace(const BackwardTrace&) = delete;
  BackwardTrace& operator=(const BackwardTrace&) = delete;

  const std::vector<TraceStep>& steps() const { return steps_; }
  // A line a step: the node, what it received, what it sent. Tensors of up
  // to 8 elements are printed with their values, larger ones by shape.
  std::string str() const;

  // The innermost live trace of this thread, or null; the walk reports to it.
  static BackwardTrace* active();
  void add(TraceStep step) { steps_.push_back(std::move(step)); }

 private:
  std::vector<TraceStep> steps_;
  BackwardTrace* outer_;
};

}  // namespace ng::autograd
