#include "engine/data/idx.h"

#include <cstdio>

#include "engine/data/file_bytes.h"
#include "engine/error.h"

namespace ng {

namespace {

constexpr uint32_t kImagesMagic = 0x00000803;
constexpr uint32_t kLabelsMagic = 0x00000801;

std::string hex(uint32_t v) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%08x", v);
  return text;
}

// Checks the header fits and has the expected magic number; returns the dims.
std::vector<uint32_t> read_header(const std::string& path, const std::vector<uint8_t>& bytes, uint32_t magic,
                                  size_t ndims, const char* kind) {
  const size_t header_bytes = 4 * (1 + ndims);
  NG_CHECK(bytes.size() >= 4, path, ": truncated: ", bytes.size(), " bytes, too short for an IDX magic number");
  const uint32_t found = read_u32_be(bytes.data());
  const char* other = found == kImagesMagic ? " (that of an IDX image file)"
                      : found == kLabelsMagic ? " (that of an IDX label file)"
                                              : "";
  NG_CHECK(found == magic, path, ": bad magic number ", hex(found), other, ", expected ", hex(magic), " for IDX ",
           kind);
  NG_CHECK(bytes.size() >= header_bytes, path, ": truncated: ", bytes.size(), " bytes, too short for the ",
           header_bytes, "-byte IDX ", kind, " header");
  std::vector<uint32_t> dims(ndims);
  for (size_t d = 0; d < ndims; ++d) dims[d] = read_u32_be(bytes.data() + 4 * (1 + d));
  return dims;
}

}  // namespace

Tensor read_idx_images(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  const std::vector<uint32_t> dims = read_header(path, bytes, kImagesMagic, 3, "images");
  const int64_t n = dims[0], rows = dims[1], cols = dims[2];
  NG_CHECK(rows > 0 && cols > 0, path, ": header says images of ", rows, "x", cols, ", which is empty");
  const uint64_t held = bytes.size() - 16;
  uint64_t expected = 0;  // n * rows * cols, which a corrupt header can make overflow
  if (__builtin_mul_overflow(uint64_t(n), uint64_t(rows) * uint64_t(cols), &expected)) expected = UINT64_MAX;
  NG_CHECK(held >= expected, path, ": truncated: header says ", n, " images of ", rows, "x", cols,
           " but the file holds ", held, " bytes of pixels (", expected, " expected)");
  NG_CHECK(held == expected, path, ": header says ", n, " images of ", rows, "x", cols, " (", expected,
           " bytes) but the file holds ", held, " bytes of pixels: ", held - expected, " bytes too many");

  Tensor images = empty({n, 1, rows, cols});
  float* out = images.data<float>();
  const uint8_t* in = bytes.data() + 16;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < int64_t(expected); ++i) out[i] = float(in[i]) / 255.0f;
  return images;
}

std::vector<int> read_idx_labels(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  const uint32_t n = read_header(path, bytes, kLabelsMagic, 1, "labels")[0];
  const uint64_t held = bytes.size() - 8;
  NG_CHECK(held >= n, path, ": truncated: header says ", n, " labels but the file holds ", held,
           " bytes of labels");
  NG_CHECK(held == n, path, ": header says ", n, " labels but the file holds ", held, " bytes of labels: ",
           held - n, " bytes too many");
  return std::vector<int>(bytes.begin() + 8, bytes.end());
}

}  // namespace ng
