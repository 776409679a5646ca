// stb_image's allocations, made by nanogen: zeroed, and capped per decode.
//
// Zeroed, because stb_image 2.27 leaves its JPEG decoder's Huffman tables
// uninitialised, and a scan naming a table no segment defined then decodes
// with heap garbage (an out-of-bounds read; fixed upstream in 2.28).
// Capped, because the size an image header declares does not bound what stb
// allocates: a PNG of 1x1 pixels may carry compressed data that inflates to
// gigabytes, or a chunk header declaring a 2 GiB chunk. load_image sets the
// cap from the declared size and the file's; above it stb's allocation
// fails and the decode stops ("Out of memory").
#pragma once

#include <cstddef>

namespace ng {

// The most bytes one stb allocation may take on this thread while the
// object lives (allocations of other threads are not affected).
class StbAllocationLimit {
 public:
  explicit StbAllocationLimit(size_t bytes);
  ~StbAllocationLimit();
  StbAllocationLimit(const StbAllocationLimit&) = delete;
  StbAllocationLimit& operator=(const StbAllocationLimit&) = delete;

 private:
  size_t previous_;
};

// What stb_image allocates with (STBI_MALLOC, STBI_REALLOC, STBI_FREE).
void* stb_malloc(size_t bytes);
void* stb_realloc(void* block, size_t bytes);
void stb_free(void* block);

}  // namespace ng
