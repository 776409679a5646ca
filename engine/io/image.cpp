#include "engine/io/image.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <memory>
#include <vector>

#include "engine/error.h"
#include "engine/io/atomic_file.h"
#include "engine/io/jpeg_tables.h"
#include "engine/io/stb_allocation.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wshadow"
#include <stb/stb_image.h>
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop

namespace ng {

uint8_t to_byte(float v) {
  if (!(v > 0.0f)) return 0;  // also NaN
  if (v >= 1.0f) return 255;
  return uint8_t(std::lround(v * 255.0f));
}

namespace {

void append_bytes(void* context, void* data, int size) {
  auto* out = static_cast<std::vector<uint8_t>*>(context);
  const auto* bytes = static_cast<const uint8_t*>(data);
  out->insert(out->end(), bytes, bytes + size);
}

// The checks and the conversion behind save_png and encode_png; `who` starts
// their error messages ("save_png(runs/x.png)").
std::vector<uint8_t> png_bytes(const Tensor& image, const std::string& who) {
  NG_CHECK(image.defined(), who, ": undefined tensor");
  NG_CHECK(image.dim() == 2 || image.dim() == 3, who, ": expected [C,H,W] or [H,W], got ", shape_str(image.shape()));
  const Tensor chw = image.dim() == 2 ? image.unsqueeze(0) : image;
  const int64_t C = chw.size(0), H = chw.size(1), W = chw.size(2);
  NG_CHECK(C == 1 || C == 3, who, ": expected 1 (gray) or 3 (RGB) channels, got ", shape_str(image.shape()));
  NG_CHECK(H > 0 && W > 0 && H < (1 << 24) && W < (1 << 24), who, ": cannot write an image of shape ",
           shape_str(image.shape()));

  // PNG rows hold interleaved channels (HWC); tensors are planar (CHW).
  const std::vector<float> planar = chw.to_vector<float>();
  std::vector<uint8_t> pixels(size_t(C * H * W));
  for (int64_t c = 0; c < C; ++c)
    for (int64_t i = 0; i < H * W; ++i) pixels[size_t(i * C + c)] = to_byte(planar[size_t(c * H * W + i)]);

  std::vector<uint8_t> png;
  const int ok = stbi_write_png_to_func(append_bytes, &png, int(W), int(H), int(C), pixels.data(), int(W * C));
  NG_CHECK(ok != 0, who, ": PNG encoding failed");
  return png;
}

}  // namespace

std::vector<uint8_t> encode_png(const Tensor& image) { return png_bytes(image, "encode_png"); }

void save_png(const std::string& path, const Tensor& image) {
  const std::vector<uint8_t> png = png_bytes(image, "save_png(" + path + ")");
  write_file_atomically(path, png.data(), png.size());
}

ImageSize encoded_image_size(const std::vector<uint8_t>& bytes) {
  NG_CHECK(!bytes.empty() && bytes.size() < (size_t(1) << 31), "encoded_image_size: ", bytes.size(),
           " bytes cannot be a PNG or JPEG nanogen reads");
  int w = 0, h = 0, channels = 0;
  NG_CHECK(stbi_info_from_memory(bytes.data(), int(bytes.size()), &w, &h, &channels),
           "encoded_image_size: not a PNG or JPEG (", stbi_failure_reason(), ")");
  return {channels, h, w};
}

Tensor make_image_grid(const Tensor& images, int64_t nrow, int64_t padding, double pad_value) {
  NG_CHECK(images.defined() && images.dim() == 4, "make_image_grid: expected images [N,C,H,W], got ",
           images.defined() ? shape_str(images.shape()) : "undefined");
  const int64_t N = images.size(0), C = images.size(1), H = images.size(2), W = images.size(3);
  NG_CHECK(N > 0, "make_image_grid: no images in ", shape_str(images.shape()));
  NG_CHECK(nrow > 0, "make_image_grid: nrow must be positive, got ", nrow);
  NG_CHECK(padding >= 0, "make_image_grid: padding must be non-negative, got ", padding);

  const int64_t cols = std::min(nrow, N), rows = (N + cols - 1) / cols;
  const int64_t cell_h = H + padding, cell_w = W + padding;
  const int64_t out_h = rows * cell_h + padding, out_w = cols * cell_w + padding;
  Tensor grid = full({C, out_h, out_w}, pad_value);
  float* out = grid.data<float>();
  const std::vector<float> in = images.to_vector<float>();
  for (int64_t n = 0; n < N; ++n) {
    const int64_t top = (n / cols) * cell_h + padding, left = (n % cols) * cell_w + padding;
    for (int64_t c = 0; c < C; ++c)
      for (int64_t y = 0; y < H; ++y) {
        const float* src = in.data() + ((n * C + c) * H + y) * W;
        std::copy(src, src + W, out + (c * out_h + top + y) * out_w + left);
      }
  }
  return grid;
}

void save_image_grid(const std::string& path, const Tensor& images, int64_t nrow, int64_t padding,
                     double pad_value) {
  save_png(path, make_image_grid(images, nrow, padding, pad_value));
}

Tensor load_image(const std::string& path, int channels) {
  NG_CHECK(channels == 0 || channels == 1 || channels == 3 || channels == 4, "load_image(", path,
           "): channels must be 0 (as stored), 1, 3 or 4, got ", channels);
  std::ifstream in(path, std::ios::binary);
  NG_CHECK(in.good(), "load_image: cannot open ", path);
  const std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  NG_CHECK(!bytes.empty(), "load_image: ", path, " is empty");
  NG_CHECK(bytes.size() < (size_t(1) << 31), "load_image: ", path, " is too large");

  const std::string jpeg_problem = jpeg_table_problem(bytes.data(), bytes.size());
  NG_CHECK(jpeg_problem.empty(), "load_image: ", path, " is a corrupt JPEG: ", jpeg_problem);

  int w = 0, h = 0, stored = 0;
  NG_CHECK(stbi_info_from_memory(bytes.data(), int(bytes.size()), &w, &h, &stored), "load_image: ", path,
           " is not a readable image (", stbi_failure_reason(), ")");
  // The size the header declares is checked before the decoder allocates
  // for it: a few bytes of PNG can declare 100000 x 100000 pixels.
  NG_CHECK(int64_t(w) * h <= kMaxImagePixels, "load_image: ", path, " declares ", w, "x", h,
           " pixels, more than the ", kMaxImagePixels, " (", kMaxImageSide, "x", kMaxImageSide,
           ") nanogen reads; resize the images first");
  const int C = channels != 0 ? channels : (stored <= 2 ? 1 : 3);  // drop alpha
  // No legitimate block of the decode is larger than the file, or than the
  // declared pixels at 16 bits and 4 channels with their rows' filter bytes
  // (JPEG: padded to whole 16x16 blocks), twice over for conversion.
  const size_t pixel_bytes = 2 * size_t(h + 16) * (8 * size_t(w + 16) + 8);
  const StbAllocationLimit limit(std::max(pixel_bytes, bytes.size()) + (size_t(1) << 20));
  unsigned char* pixels = stbi_load_from_memory(bytes.data(), int(bytes.size()), &w, &h, &stored, C);
  const std::string reason = pixels ? "" : stbi_failure_reason();
  NG_CHECK(pixels != nullptr, "load_image: cannot decode ", path, " (",
           reason == "Out of memory" ? "its data needs more memory than its " + std::to_string(w) + "x" +
                                           std::to_string(h) + " pixels can: corrupt, or made to exhaust memory"
                                     : reason,
           ")");
  const std::unique_ptr<unsigned char, void (*)(void*)> owner(pixels, stbi_image_free);

  Tensor image = empty({C, h, w});
  float* out = image.data<float>();
  const int64_t plane = int64_t(h) * w;
  for (int64_t i = 0; i < plane; ++i)
    for (int c = 0; c < C; ++c) out[c * plane + i] = float(pixels[i * C + c]) / 255.0f;
  return image;
}

}  // namespace ng
