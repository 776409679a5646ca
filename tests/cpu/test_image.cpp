// PNG writing, image grids and image loading (PNG and JPEG through stb).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <iterator>

#include <zlib.h>

#include "engine/io/image.h"
#include "engine/io/jpeg_tables.h"
#include "engine/nanogen.h"
#include "support/temp_dir.h"
#include "support/gradcheck.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop

using namespace ng;
using test::error_of;
using ng::test::TempDir;
using ng::test::write_bytes;

namespace {

// A value every 8-bit PNG stores exactly: level / 255.
float level(int l) { return float(l) / 255.0f; }

float at(const Tensor& chw, int64_t c, int64_t y, int64_t x) {
  return float(chw.select(0, c).select(0, y).select(0, x).item());
}

}  // namespace

TEST(Image, GridGeometryMatchesMakeGrid) {
  // 5 images of 1x3x4, image n pixel (y, x) = level(40 n + 4 y + x + 1).
  std::vector<float> values;
  for (int n = 0; n < 5; ++n)
    for (int y = 0; y < 3; ++y)
      for (int x = 0; x < 4; ++x) values.push_back(level(40 * n + 4 * y + x + 1));
  const Tensor images = from_vector(values, {5, 1, 3, 4});

  // 3 a row -> 2 rows; each cell is (3+2)x(4+2), plus the outer padding.
  const Tensor grid = make_image_grid(images, /*nrow=*/3, /*padding=*/2, /*pad_value=*/1.0);
  ASSERT_EQ(grid.shape(), (Shape{1, 2 * 5 + 2, 3 * 6 + 2}));
  for (int n = 0; n < 5; ++n) {
    const int64_t top = (n / 3) * 5 + 2, left = (n % 3) * 6 + 2;
    for (int y = 0; y < 3; ++y)
      for (int x = 0; x < 4; ++x) EXPECT_EQ(at(grid, 0, top + y, left + x), level(40 * n + 4 * y + x + 1));
    EXPECT_EQ(at(grid, 0, top - 1, left), 1.0f);      // padding above
    EXPECT_EQ(at(grid, 0, top, left + 4), 1.0f);      // padding to the right
  }
  EXPECT_EQ(at(grid, 0, 7 + 1, 2 * 6 + 2 + 1), 1.0f);  // the empty sixth cell is padding
  EXPECT_EQ(at(grid, 0, 0, 0), 1.0f);

  // Fewer images than nrow: one row just wide enough.
  EXPECT_EQ(make_image_grid(images.narrow(0, 0, 2), 8, 1).shape(), (Shape{1, 5, 11}));
  EXPECT_EQ(make_image_grid(images, 5, 0).shape(), (Shape{1, 3, 20}));
}

TEST(Image, SavedGridLoadsBackPixelForPixel) {
  TempDir dir;
  std::vector<float> values;
  for (int i = 0; i < 4 * 3 * 5 * 6; ++i) values.push_back(level((i * 37) % 256));
  const Tensor images = from_vector(values, {4, 3, 5, 6});
  const std::string path = dir.file("grid.png");
  save_image_grid(path, images, /*nrow=*/2, /*padding=*/2, /*pad_value=*/0.5);
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"grid.png"}));  // no temporary left

  const Tensor loaded = load_image(path);
  const Tensor expected = make_image_grid(images, 2, 2, 0.5);
  ASSERT_EQ(loaded.shape(), (Shape{3, 2 * 7 + 2, 2 * 8 + 2}));
  const std::vector<float> got = loaded.to_vector<float>(), want = expected.to_vector<float>();
  for (size_t i = 0; i < got.size(); ++i) {
    // 0.5 is stored as level 128; everything else exactly.
    const float w = want[i] == 0.5f ? level(128) : want[i];
    ASSERT_EQ(got[i], w) << "at flat index " << i;
  }
}

TEST(Image, SavePngClampsAndAcceptsAnyLayout) {
  TempDir dir;
  // [H,W] float64 seen through a transpose (non-contiguous).
  const Tensor hw = from_vector(std::vector<double>{-0.5, 0.2, 1.7, NAN, 1.0, 0.0}, {3, 2}).t();
  const std::string path = dir.file("gray.png");
  save_png(path, hw);
  const Tensor loaded = load_image(path);
  ASSERT_EQ(loaded.shape(), (Shape{1, 2, 3}));
  // Clamped to [0,1], NaN -> 0, 0.2 -> level 51.
  EXPECT_EQ(loaded.to_vector<float>(), (std::vector<float>{0.0f, 1.0f, 1.0f, level(51), 0.0f, 0.0f}));

  // Gray loads as 3 equal channels when asked.
  const Tensor rgb = load_image(path, 3);
  ASSERT_EQ(rgb.shape(), (Shape{3, 2, 3}));
  EXPECT_EQ(rgb.select(0, 0).to_vector<float>(), rgb.select(0, 2).to_vector<float>());
}

TEST(Image, LoadsJpeg) {
  TempDir dir;
  // A flat 8x8 colour survives JPEG's lossy coding almost exactly.
  std::vector<unsigned char> pixels;
  for (int i = 0; i < 64; ++i) pixels.insert(pixels.end(), {200, 100, 50});
  const std::string path = dir.file("flat.jpg");
  ASSERT_NE(stbi_write_jpg(path.c_str(), 8, 8, 3, pixels.data(), 95), 0);
  const Tensor image = load_image(path);
  ASSERT_EQ(image.shape(), (Shape{3, 8, 8}));
  EXPECT_NEAR(at(image, 0, 3, 4), 200 / 255.0, 3 / 255.0);
  EXPECT_NEAR(at(image, 1, 7, 0), 100 / 255.0, 3 / 255.0);
  EXPECT_NEAR(at(image, 2, 0, 7), 50 / 255.0, 3 / 255.0);
}

TEST(Image, ErrorsNameTheFileAndTheShape) {
  TempDir dir;
  const std::string png = dir.file("x.png");
  EXPECT_NE(error_of([&] { save_png(png, zeros({2, 3, 4})); }).find("1 (gray) or 3 (RGB) channels, got [2,3,4]"),
            std::string::npos);
  EXPECT_NE(error_of([&] { save_png(png, zeros({1, 2, 3, 4})); }).find("[C,H,W] or [H,W], got [1,2,3,4]"),
            std::string::npos);
  EXPECT_NE(error_of([&] { make_image_grid(zeros({3, 4, 5})); }).find("[N,C,H,W], got [3,4,5]"), std::string::npos);
  EXPECT_NE(error_of([&] { make_image_grid(zeros({0, 1, 4, 5})); }).find("no images"), std::string::npos);
  EXPECT_NE(error_of([&] { make_image_grid(zeros({2, 1, 4, 5}), 0); }).find("nrow must be positive"),
            std::string::npos);
  EXPECT_TRUE(dir.entries().empty());

  const std::string missing = dir.file("missing.png");
  EXPECT_NE(error_of([&] { load_image(missing); }).find("cannot open " + missing), std::string::npos);
  const std::string garbage = dir.file("garbage.png");
  write_bytes(garbage, "this is not an image at all");
  const std::string message = error_of([&] { load_image(garbage); });
  EXPECT_NE(message.find(garbage + " is not a readable image"), std::string::npos) << message;
  EXPECT_NE(error_of([&] { save_png(dir.file("no/dir/x.png"), zeros({4, 4})); }).find("cannot open temporary"),
            std::string::npos);
}

// PNG headers declaring more pixels than nanogen reads, in a few dozen bytes:
// refused from the header, before stb_image allocates for the pixels.
TEST(Image, ADeclaredSizeBeyondTheLimitIsRefusedBeforeDecoding) {
  auto be32 = [](uint32_t v) { return std::string{char(v >> 24), char(v >> 16 & 255), char(v >> 8 & 255), char(v & 255)}; };
  auto png_header = [&](uint32_t width, uint32_t height) {
    const std::string ihdr = "IHDR" + be32(width) + be32(height) + std::string{8, 0, 0, 0, 0};  // 8-bit gray
    const uLong crc = crc32(0, reinterpret_cast<const Bytef*>(ihdr.data()), uInt(ihdr.size()));
    return std::string("\x89PNG\r\n\x1a\n", 8) + be32(13) + ihdr + be32(uint32_t(crc));
  };
  TempDir dir;
  const std::string path = dir.file("huge.png");
  write_bytes(path, png_header(10000, 10000));  // 100 MB of pixels: stb would decode it
  std::string message = error_of([&] { load_image(path); });
  EXPECT_NE(message.find(path + " declares 10000x10000 pixels, more than the 67108864 (8192x8192)"),
            std::string::npos)
      << message;
  write_bytes(path, png_header(100000, 100000));  // 10 GB: stb refuses it itself (its limit is 2^30 bytes)
  message = error_of([&] { load_image(path); });
  EXPECT_NE(message.find(path + " is not a readable image"), std::string::npos) << message;
}

// A JPEG whose Huffman table declares more than 256 symbols: stb_image 2.27
// would write past the table (a heap overflow found by the fuzz target), so
// it is refused before stb sees it. A valid JPEG's tables pass the check.
TEST(Image, AJpegHuffmanTableOfMoreThan256SymbolsIsRefusedBeforeDecoding) {
  TempDir dir;
  const std::string good = dir.file("good.jpg");
  unsigned char pixels[8 * 8 * 3];
  for (int i = 0; i < 8 * 8 * 3; ++i) pixels[i] = static_cast<unsigned char>(i);
  ASSERT_TRUE(stbi_write_jpg(good.c_str(), 8, 8, 3, pixels, 90));
  std::ifstream in(good, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(jpeg_table_problem(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size()), "");
  EXPECT_NO_THROW(load_image(good));

  // SOI, then one DHT segment holding a table whose 16 counts are 255 each.
  std::string bad = "\xFF\xD8\xFF\xC4";
  const size_t length = 2 + 17 + 16 * 255;
  bad += char(length >> 8);
  bad += char(length & 255);
  bad += char(0x00);                    // class 0 (DC), table 0
  bad += std::string(16, char(255));    // 4080 symbols declared
  bad += std::string(16 * 255, char(1));
  bad += "\xFF\xD9";
  const std::string path = dir.file("bad.jpg");
  write_bytes(path, bad);
  const std::string message = error_of([&] { load_image(path); });
  EXPECT_NE(message.find(path + " is a corrupt JPEG: a Huffman table declares 4080 symbols, more than the 256"),
            std::string::npos)
      << message;
  // A table that runs past its segment's length is refused too: stb would
  // read on past the segment, where no check looked.
  std::string overrun = "\xFF\xD8\xFF\xC4";
  overrun += char(0);
  overrun += char(2 + 17);  // room for the header only
  overrun += char(0x00) + std::string(16, char(1));  // 16 symbols that follow outside the segment
  overrun += std::string(16, char(0)) + "\xFF\xD9";
  write_bytes(path, overrun);
  EXPECT_NE(error_of([&] { load_image(path); }).find("a Huffman table runs past its segment"), std::string::npos);
}

// A PNG declaring 1x1 pixels whose compressed data inflates to 64 MiB: the
// declared size does not bound what stb allocates, so its allocations are
// capped from it (engine/io/stb_allocation.h) and the decode stops.
TEST(Image, APngWhoseDataInflatesFarBeyondItsPixelsIsRefused) {
  auto be32 = [](uint32_t v) { return std::string{char(v >> 24), char(v >> 16 & 255), char(v >> 8 & 255), char(v & 255)}; };
  auto chunk = [&](const std::string& type, const std::string& data) {
    const std::string body = type + data;
    const uLong crc = crc32(0, reinterpret_cast<const Bytef*>(body.data()), uInt(body.size()));
    return be32(uint32_t(data.size())) + body + be32(uint32_t(crc));
  };
  const std::string zeros(size_t(64) << 20, '\0');
  uLongf packed_size = compressBound(uLong(zeros.size()));
  std::string packed(packed_size, '\0');
  ASSERT_EQ(compress2(reinterpret_cast<Bytef*>(packed.data()), &packed_size,
                      reinterpret_cast<const Bytef*>(zeros.data()), uLong(zeros.size()), 9),
            Z_OK);
  packed.resize(packed_size);
  const std::string png = std::string("\x89PNG\r\n\x1a\n", 8) +
                          chunk("IHDR", be32(1) + be32(1) + std::string{8, 0, 0, 0, 0}) + chunk("IDAT", packed) +
                          chunk("IEND", "");
  TempDir dir;
  const std::string path = dir.file("bomb.png");
  write_bytes(path, png);
  const std::string message = error_of([&] { load_image(path); });
  EXPECT_NE(message.find("cannot decode " + path + " (its data needs more memory than its 1x1 pixels can"),
            std::string::npos)
      << message;
}
