// The animated GIF writer (engine/io/gif.h) and the run's animation of its
// epochs (tools/epoch_strip.h), read back with giflib's own decoder: frame
// count, size, every pixel, each frame's delay and the loop block.
#include <gif_lib.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "engine/io/gif.h"
#include "engine/io/image.h"
#include "support/gradcheck.h"
#include "support/temp_dir.h"
#include "tools/epoch_strip.h"

using namespace ng;

namespace {

struct Reader {
  const std::vector<uint8_t>* bytes;
  size_t at = 0;
};

int read_bytes(GifFileType* gif, GifByteType* out, int n) {
  auto* r = static_cast<Reader*>(gif->UserData);
  const size_t take = std::min(size_t(n), r->bytes->size() - r->at);
  std::memcpy(out, r->bytes->data() + r->at, take);
  r->at += take;
  return int(take);
}

// The decoded file; closed when the test ends.
struct Decoded {
  GifFileType* gif = nullptr;
  Reader reader;
  explicit Decoded(const std::vector<uint8_t>& bytes) : reader{&bytes} {
    int error = 0;
    gif = DGifOpen(&reader, read_bytes, &error);
    EXPECT_NE(gif, nullptr) << GifErrorString(error);
    if (gif != nullptr) {
      EXPECT_EQ(DGifSlurp(gif), GIF_OK) << GifErrorString(gif->Error);
    }
  }
  ~Decoded() {
    if (gif != nullptr) DGifCloseFile(gif, nullptr);
  }
  Decoded(const Decoded&) = delete;
  Decoded& operator=(const Decoded&) = delete;
  // The colour of pixel i of frame f.
  GifColorType colour(int f, int64_t i) const {
    const SavedImage& frame = gif->SavedImages[f];
    const ColorMapObject* map = frame.ImageDesc.ColorMap ? frame.ImageDesc.ColorMap : gif->SColorMap;
    return map->Colors[frame.RasterBits[i]];
  }
  int delay(int f) const {
    GraphicsControlBlock gcb;
    EXPECT_EQ(DGifSavedExtensionToGCB(gif, f, &gcb), GIF_OK);
    return gcb.DelayTime;
  }
  bool loops_forever() const {
    const SavedImage& first = gif->SavedImages[0];
    for (int b = 0; b + 1 < first.ExtensionBlockCount; ++b) {
      const ExtensionBlock& name = first.ExtensionBlocks[b];
      const ExtensionBlock& data = first.ExtensionBlocks[b + 1];
      if (name.Function == APPLICATION_EXT_FUNC_CODE && name.ByteCount == 11 &&
          std::memcmp(name.Bytes, "NETSCAPE2.0", 11) == 0)
        return data.ByteCount == 3 && data.Bytes[0] == 1 && data.Bytes[1] == 0 && data.Bytes[2] == 0;
    }
    return false;
  }
};

}  // namespace

TEST(Gif, GrayFramesComeBackExactWithTheirDelays) {
  std::vector<Tensor> frames;
  for (int f = 0; f < 3; ++f) frames.push_back(test::uniform({1, 5, 7}, uint64_t(10 + f), -0.1, 1.1, DType::f32));
  const std::vector<uint8_t> bytes = encode_gif(frames, {.frame_cs = 30, .last_cs = 150});
  ASSERT_EQ(std::string(bytes.begin(), bytes.begin() + 6), "GIF89a");
  const Decoded d(bytes);
  ASSERT_NE(d.gif, nullptr);
  ASSERT_EQ(d.gif->ImageCount, 3);
  EXPECT_EQ(d.gif->SWidth, 7);
  EXPECT_EQ(d.gif->SHeight, 5);
  EXPECT_TRUE(d.loops_forever());
  for (int f = 0; f < 3; ++f) {
    EXPECT_EQ(d.delay(f), f == 2 ? 150 : 30);
    const std::vector<float> v = frames[size_t(f)].to_vector<float>();
    for (int64_t i = 0; i < 35; ++i) {
      const GifColorType c = d.colour(f, i);
      EXPECT_EQ(c.Red, to_byte(v[size_t(i)])) << "frame " << f << " pixel " << i;
      EXPECT_EQ(c.Green, c.Red);
      EXPECT_EQ(c.Blue, c.Red);
    }
  }
}

TEST(Gif, ColourFramesKeepTheirColoursWithinTheQuantizersStep) {
  // Six colours: the quantizer keeps each within its 5-bit cells (8 levels).
  const float palette[6][3] = {{1, 0, 0}, {0, 0.5f, 1}, {0.2f, 0.8f, 0.1f}, {1, 1, 1}, {0, 0, 0}, {0.6f, 0.3f, 0.9f}};
  std::vector<float> v(3 * 8 * 9);
  for (int64_t i = 0; i < 72; ++i)
    for (int c = 0; c < 3; ++c) v[size_t(c * 72 + i)] = palette[(i * 5 + i / 9) % 6][c];
  const Tensor frame = from_vector(v, {3, 8, 9});
  const std::vector<uint8_t> bytes = encode_gif({frame, frame});
  const Decoded d(bytes);
  ASSERT_NE(d.gif, nullptr);
  ASSERT_EQ(d.gif->ImageCount, 2);
  for (int64_t i = 0; i < 72; ++i) {
    const GifColorType c = d.colour(1, i);
    EXPECT_NEAR(c.Red, to_byte(v[size_t(i)]), 8) << "pixel " << i;
    EXPECT_NEAR(c.Green, to_byte(v[size_t(72 + i)]), 8) << "pixel " << i;
    EXPECT_NEAR(c.Blue, to_byte(v[size_t(144 + i)]), 8) << "pixel " << i;
  }
}

TEST(Gif, RefusesWhatItCannotWrite) {
  test::expect_error([] { encode_gif({}); }, {"encode_gif", "no frames"});
  test::expect_error([] { encode_gif({zeros({2, 4, 4})}); }, {"encode_gif", "C = 1 or 3", "[2,4,4]"});
  test::expect_error([] { encode_gif({zeros({1, 4, 4}), zeros({1, 4, 5})}); },
                     {"encode_gif", "frame 1", "[1,4,5]", "[1,4,4]"});
}

TEST(Gif, ARunsEpochsBecomeOneFrameEach) {
  test::TempDir dir;
  const std::string run = (dir.path() / "run").string();
  std::filesystem::create_directories(run + "/samples");
  EXPECT_EQ(tools::save_epoch_animation(run, "epoch"), 0);  // no grids yet: nothing written
  EXPECT_FALSE(std::filesystem::exists(run + "/samples/epoch.gif"));
  for (int64_t epoch = 1; epoch <= 5; ++epoch) {
    char name[32];
    std::snprintf(name, sizeof name, "/samples/epoch_%03lld.png", (long long)epoch);
    save_image_grid(run + name, full({4, 1, 3, 3}, double(epoch) / 10), 2);
  }
  EXPECT_EQ(tools::save_epoch_animation(run, "epoch"), 5);
  std::ifstream in(run + "/samples/epoch.gif", std::ios::binary);
  const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const Decoded d(bytes);
  ASSERT_NE(d.gif, nullptr);
  ASSERT_EQ(d.gif->ImageCount, 5);
  // Frame k is epoch k + 1's grid: its first image's top-left pixel (inside the 2-pixel border).
  const int64_t width = d.gif->SWidth;
  for (int f = 0; f < 5; ++f) EXPECT_EQ(d.colour(f, 2 * width + 2).Red, to_byte(float(f + 1) / 10)) << "frame " << f;
}
