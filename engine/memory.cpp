#include "engine/memory.h"

#include <cstdlib>
#include <new>

#include "engine/error.h"

namespace ng {

void require_cuda(const char* what) {
#ifdef NANOGEN_WITH_CUDA
  NG_CHECK(cuda_available(), what, ": a CUDA tensor was requested but no GPU is visible");
#else
  throw Error(std::string(what) + ": a CUDA tensor was requested but this build of nanogen has no CUDA "
              "backend (configure with -DNANOGEN_CUDA=ON on a machine with nvcc)");
#endif
}


void* device_alloc(Device device, size_t nbytes) {
  if (device.is_cuda()) {
    require_cuda("alloc");
    throw Error("alloc: the CUDA backend is not implemented yet");
  }
  // 64-byte alignment: a cache line, and enough for any vector load.
  const size_t rounded = (nbytes + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, rounded ? rounded : 64);
  if (!p) throw Error("alloc: out of host memory allocating " + std::to_string(nbytes) + " bytes");
  return p;
}

void device_free(Device device, void* ptr, size_t) {
  if (device.is_cpu()) std::free(ptr);
}

void device_copy(const Tensor&, const Tensor&) { require_cuda("copy"); }
void device_fill(const Tensor&, double) { require_cuda("fill"); }

}  // namespace ng
