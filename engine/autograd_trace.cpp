#include "engine/autograd_trace.h"

#include <algorithm>
#include <sstream>

namespace ng::autograd {

namespace {

thread_local BackwardTrace* g_active = nullptr;

// "0.125", "[1, 2, 3]", "-" for no gradient or, past 8 elements, "<float64 [4,3]>".
void describe(std::ostream& out, const Tensor& t) {
  if (!t.defined()) {
    out << "-";
    return;
  }
  if (t.numel() > 8) {
    out << "<" << dtype_name(t.dtype()) << " " << shape_str(t.shape()) << ">";
    return;
  }
  const std::vector<double> v = t.to_vector<double>();
  if (t.dim() > 0) out << "[";
  for (size_t i = 0; i < v.size(); ++i) out << (i > 0 ? ", " : "") << v[i];
  if (t.dim() > 0) out << "]";
}

}  // namespace

BackwardTrace::BackwardTrace() : outer_(g_active) { g_active = this; }
BackwardTrace::~BackwardTrace() { g_active = outer_; }
BackwardTrace* BackwardTrace::active() { return g_active; }

std::string BackwardTrace::str() const {
  size_t width = 0;
  for (const TraceStep& s : steps_) width = std::max(width, s.node.size());
  std::ostringstream out;  // default formatting: 6 significant digits, as %g
  for (const TraceStep& s : steps_) {
    out << s.node << std::string(width - s.node.size() + 2, ' ') << "received ";
    describe(out, s.grad_output);
    out << ", sends ";
    for (size_t i = 0; i < s.grad_inputs.size(); ++i) {
      if (i > 0) out << ", ";
      describe(out, s.grad_inputs[i]);
    }
    out << "\n";
  }
  return out.str();
}

}  // namespace ng::autograd
