#include "engine/device.h"

#include <stdexcept>

#include "engine/error.h"

namespace ng {

std::string Device::str() const {
  return is_cpu() ? std::string("cpu") : "cuda:" + std::to_string(index);
}

Device Device::parse(const std::string& s) {
  if (s == "cpu") return cpu();
  if (s == "cuda") return cuda(0);
  if (s.rfind("cuda:", 0) == 0) {
    const std::string n = s.substr(5);
    if (!n.empty() && n.find_first_not_of("0123456789") == std::string::npos)
      return cuda(std::stoi(n));
  }
  throw Error("device: '" + s + "' is not a device; expected cpu, cuda or cuda:N");
}

#ifndef NANOGEN_WITH_CUDA
bool cuda_available() { return false; }
int cuda_device_count() { return 0; }
int cuda_compute_capability(int) { return 0; }
#endif

}  // namespace ng
