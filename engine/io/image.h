// Images in and out: PNG sample grids for training runs, PNG/JPEG loading for
// image-folder data sets. Pixels are floats in [0, 1]; tensors are [C,H,W].
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace ng {

// A pixel value in [0, 1] as one of 256 levels: clamped, rounded to the
// nearest, NaN as 0. Every image writer uses this rule.
uint8_t to_byte(float v);

// Writes a [C,H,W] (C = 1 gray or 3 RGB) or [H,W] tensor as an 8-bit PNG.
// Values are clamped to [0, 1] and rounded to the nearest of 256 levels (NaN
// becomes 0). Any dtype/device/strides. The write is atomic.
void save_png(const std::string& path, const Tensor& image);

// The bytes of the PNG file save_png writes, in memory (for files that embed
// images, like TensorBoard's event files).
std::vector<uint8_t> encode_png(const Tensor& image);

// The size and colour channels (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA) that a
// PNG or JPEG in memory declares, read from its header without decoding it.
// Throws ng::Error for bytes that are neither.
struct ImageSize {
  int64_t channels = 0, height = 0, width = 0;
};
ImageSize encoded_image_size(const std::vector<uint8_t>& bytes);

// Tiles a batch [N,C,H,W] into one [C, rows*(H+padding)+padding,
// cols*(W+padding)+padding] image, cols = min(nrow, N) images a row, row-major,
// with `padding` pixels of `pad_value` around and between them (what
// torchvision.utils.make_grid does, without its 1 -> 3 channel expansion).
// Returns float32 on the CPU.
Tensor make_image_grid(const Tensor& images, int64_t nrow = 8, int64_t padding = 2, double pad_value = 0.0);

// make_image_grid, then save_png.
void save_image_grid(const std::string& path, const Tensor& images, int64_t nrow = 8, int64_t padding = 2,
                     double pad_value = 0.0);

// Reads a PNG or JPEG (through stb_image, built for those two only) into a float32 [C,H,W] tensor
// in [0, 1]. channels = 0 keeps the file's colour channels and drops alpha
// (gray -> 1, colour -> 3); 1, 3 or 4 converts to that many. Throws ng::Error
// naming the file for a missing, unreadable or undecodable file, and for one
// that declares more than kMaxImagePixels (checked before decoding).
inline constexpr int64_t kMaxImageSide = 8192;
inline constexpr int64_t kMaxImagePixels = kMaxImageSide * kMaxImageSide;
Tensor load_image(const std::string& path, int channels = 0);

}  // namespace ng
