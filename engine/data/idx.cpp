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

// The header's dims, and the whole content once the size they declare is
// known to fit the file: a header declaring 2^31 images is refused before
// anything is decompressed or allocated, and reading stops past the
// declared size (a gzip file can expand 1032-fold).
struct IdxContent {
  std::vector<uint32_t> dims;
  std::vector<uint8_t> bytes;
};

IdxContent read_idx(const std::string& path, uint32_t magic, size_t ndims, const char* kind) {
  IdxContent content;
  const size_t header_bytes = 4 * (1 + ndims);
  content.dims = read_header(path, read_file_prefix(path, header_bytes), magic, ndims, kind);
  uint64_t item_bytes = 1;  // an image's rows * cols; 1 for a label
  std::string item_shape;
  for (size_t d = 1; d < ndims; ++d) {
    item_bytes *= content.dims[d];  // at most two 32-bit factors: no overflow
    if (d > 1) item_shape += 'x';
    item_shape += std::to_string(content.dims[d]);
  }
  NG_CHECK(item_bytes > 0, path, ": header says ", kind, " of ", item_shape, ", which is empty");
  uint64_t declared = 0;  // which a corrupt header can make overflow
  if (__builtin_mul_overflow(uint64_t(content.dims[0]), item_bytes, &declared) ||
      __builtin_add_overflow(declared, uint64_t(header_bytes), &declared))
    declared = UINT64_MAX;
  const uint64_t most = max_content_bytes(path);
  NG_CHECK(declared <= most, path, ": truncated: header says ", content.dims[0], " ", kind,
           item_shape.empty() ? "" : " of " + item_shape, " (",
           declared == UINT64_MAX ? "over 2^64" : std::to_string(declared),
           " bytes with the header) but the file can hold at most ", most,
           " bytes (its size, or 1032 times it for gzip)");
  // A file a little too long is read whole, so that its message can say by how much.
  content.bytes = read_file_bytes(path, declared + (1 << 20));
  return content;
}

}  // namespace

Tensor read_idx_images(const std::string& path) {
  const IdxContent content = read_idx(path, kImagesMagic, 3, "images");
  const std::vector<uint8_t>& bytes = content.bytes;
  const int64_t n = content.dims[0], rows = content.dims[1], cols = content.dims[2];
  const uint64_t held = bytes.size() - 16;
  const uint64_t expected = uint64_t(n) * uint64_t(rows) * uint64_t(cols);  // fits: read_idx checked it
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
  const IdxContent content = read_idx(path, kLabelsMagic, 1, "labels");
  const std::vector<uint8_t>& bytes = content.bytes;
  const uint32_t n = content.dims[0];
  const uint64_t held = bytes.size() - 8;
  NG_CHECK(held >= n, path, ": truncated: header says ", n, " labels but the file holds ", held,
           " bytes of labels");
  NG_CHECK(held == n, path, ": header says ", n, " labels but the file holds ", held, " bytes of labels: ",
           held - n, " bytes too many");
  return std::vector<int>(bytes.begin() + 8, bytes.end());
}

}  // namespace ng
