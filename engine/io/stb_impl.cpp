// The one translation unit that compiles stb_image and stb_image_write
// (single-header libraries from Debian's libstb-dev). Their code is not ours
// to fix, so their warnings are silenced here only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wall"
#pragma GCC diagnostic ignored "-Wextra"
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wdouble-promotion"
#include <cstdint>
#include <cstdlib>

#include "engine/io/stb_allocation.h"

namespace ng {

namespace {
thread_local size_t g_stb_limit = SIZE_MAX;
}

StbAllocationLimit::StbAllocationLimit(size_t bytes) : previous_(g_stb_limit) { g_stb_limit = bytes; }
StbAllocationLimit::~StbAllocationLimit() { g_stb_limit = previous_; }

void* stb_malloc(size_t bytes) { return bytes > g_stb_limit ? nullptr : std::calloc(1, bytes); }
void* stb_realloc(void* block, size_t bytes) { return bytes > g_stb_limit ? nullptr : std::realloc(block, bytes); }
void stb_free(void* block) { std::free(block); }

}  // namespace ng

// Only the two formats nanogen reads: every other decoder stb_image carries
// (GIF, PSD, TGA, HDR, PIC, PNM, BMP) would be reachable by a file named
// .png whatever its content, and none is needed.
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_MALLOC(bytes) ng::stb_malloc(bytes)
#define STBI_REALLOC(block, bytes) ng::stb_realloc(block, bytes)
#define STBI_FREE(block) ng::stb_free(block)
#define STB_IMAGE_IMPLEMENTATION
#define STBI_FAILURE_USERMSG
#include <stb/stb_image.h>
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop
