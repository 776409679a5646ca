#include "engine/io/gif.h"

#include <gif_lib.h>

#include <array>
#include <memory>

#include "engine/error.h"
#include "engine/io/atomic_file.h"
#include "engine/io/image.h"

namespace ng {

namespace {

// giflib's output callback. An exception must not cross giflib's C frames:
// a failed append reports 0 bytes written, and giflib reports a write error.
int append_bytes(GifFileType* gif, const GifByteType* data, int size) {
  try {
    auto* out = static_cast<std::vector<uint8_t>*>(gif->UserData);
    out->insert(out->end(), data, data + size);
    return size;
  } catch (...) {
    return 0;
  }
}

const char* error_text(int code) {
  const char* text = GifErrorString(code);
  return text != nullptr ? text : "unknown giflib error";
}

struct MapDeleter {
  void operator()(ColorMapObject* m) const { GifFreeMapObject(m); }
};
using ColorMap = std::unique_ptr<ColorMapObject, MapDeleter>;

ColorMap palette_of(const std::array<GifColorType, 256>& colours) {
  ColorMap map(GifMakeMapObject(256, colours.data()));
  NG_CHECK(map != nullptr, "encode_gif: out of memory for a palette");
  return map;
}

ColorMap gray_palette() {
  std::array<GifColorType, 256> grays;
  for (int i = 0; i < 256; ++i) grays[size_t(i)] = {GifByteType(i), GifByteType(i), GifByteType(i)};
  return palette_of(grays);
}

// Closes the file on every path; giflib frees the handle either way.
struct GifWriter {
  GifFileType* gif = nullptr;
  explicit GifWriter(std::vector<uint8_t>& out) {
    int error = 0;
    gif = EGifOpen(&out, append_bytes, &error);
    NG_CHECK(gif != nullptr, "encode_gif: giflib could not start a file: ", error_text(error));
  }
  GifWriter(const GifWriter&) = delete;
  GifWriter& operator=(const GifWriter&) = delete;
  ~GifWriter() {
    if (gif != nullptr) EGifCloseFile(gif, nullptr);
  }
  void check(int status, const char* step) const {
    NG_CHECK(status == GIF_OK, "encode_gif: giflib failed to ", step, ": ", error_text(gif->Error));
  }
  void close() {
    int error = 0;
    const int status = EGifCloseFile(gif, &error);
    gif = nullptr;
    NG_CHECK(status == GIF_OK, "encode_gif: giflib failed to finish the file: ", error_text(error));
  }
};

// The NETSCAPE2.0 application block: loop forever (count 0).
void put_loop_forever(const GifWriter& w) {
  static const GifByteType name[] = {'N', 'E', 'T', 'S', 'C', 'A', 'P', 'E', '2', '.', '0'};
  static const GifByteType loop[] = {1, 0, 0};
  w.check(EGifPutExtensionLeader(w.gif, APPLICATION_EXT_FUNC_CODE), "write the loop block");
  w.check(EGifPutExtensionBlock(w.gif, sizeof(name), name), "write the loop block");
  w.check(EGifPutExtensionBlock(w.gif, sizeof(loop), loop), "write the loop block");
  w.check(EGifPutExtensionTrailer(w.gif), "write the loop block");
}

}  // namespace

std::vector<uint8_t> encode_gif(const std::vector<Tensor>& frames, GifTiming timing) {
  NG_CHECK(!frames.empty(), "encode_gif: no frames");
  const Shape shape = frames.front().shape();
  NG_CHECK(shape.size() == 3 && (shape[0] == 1 || shape[0] == 3) && shape[1] > 0 && shape[2] > 0 &&
               shape[1] <= 65535 && shape[2] <= 65535,
           "encode_gif: frames must be [C,H,W] with C = 1 or 3 and sides up to 65535, got ", shape_str(shape));
  NG_CHECK(timing.frame_cs >= 0 && timing.last_cs >= 0 && timing.frame_cs <= 65535 && timing.last_cs <= 65535,
           "encode_gif: delays must be in [0, 65535] hundredths of a second");
  const int64_t channels = shape[0], height = shape[1], width = shape[2], pixels = height * width;
  const bool gray = channels == 1;

  std::vector<uint8_t> out;
  GifWriter w(out);
  EGifSetGifVersion(w.gif, true);  // GIF89a: delays and looping
  const ColorMap grays = gray_palette();
  w.check(EGifPutScreenDesc(w.gif, int(width), int(height), 8, 0, gray ? grays.get() : nullptr),
          "write the screen");
  put_loop_forever(w);
  std::vector<GifByteType> indices(static_cast<size_t>(pixels));
  for (size_t f = 0; f < frames.size(); ++f) {
    NG_CHECK(frames[f].shape() == shape, "encode_gif: frame ", f, " is ", shape_str(frames[f].shape()),
             ", frame 0 is ", shape_str(shape));
    const std::vector<float> v = frames[f].to_vector<float>();
    ColorMap palette;
    if (gray) {
      for (int64_t i = 0; i < pixels; ++i) indices[size_t(i)] = to_byte(v[size_t(i)]);
    } else {
      std::vector<GifByteType> planes(size_t(3 * pixels));
      for (size_t i = 0; i < planes.size(); ++i) planes[i] = to_byte(v[i]);
      std::array<GifColorType, 256> colours{};
      int size = 256;
      NG_CHECK(GifQuantizeBuffer(unsigned(width), unsigned(height), &size, planes.data(), planes.data() + pixels,
                                 planes.data() + 2 * pixels, indices.data(), colours.data()) == GIF_OK,
               "encode_gif: giflib could not quantize frame ", f);
      palette = palette_of(colours);
    }
    GraphicsControlBlock timing_block{};
    timing_block.DisposalMode = DISPOSE_DO_NOT;
    timing_block.DelayTime = f + 1 == frames.size() ? timing.last_cs : timing.frame_cs;
    timing_block.TransparentColor = NO_TRANSPARENT_COLOR;
    GifByteType block[4];
    const size_t length = EGifGCBToExtension(&timing_block, block);
    w.check(EGifPutExtension(w.gif, GRAPHICS_EXT_FUNC_CODE, int(length), block), "write a frame delay");
    w.check(EGifPutImageDesc(w.gif, 0, 0, int(width), int(height), false, palette.get()), "start a frame");
    for (int64_t r = 0; r < height; ++r)
      w.check(EGifPutLine(w.gif, indices.data() + r * width, int(width)), "write a frame");
  }
  w.close();
  return out;
}

void save_gif(const std::string& path, const std::vector<Tensor>& frames, GifTiming timing) {
  const std::vector<uint8_t> bytes = encode_gif(frames, timing);
  write_file_atomically(path, bytes.data(), bytes.size());
}

}  // namespace ng
