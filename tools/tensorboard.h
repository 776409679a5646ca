// TensorBoard event files, written and read without TensorFlow, so that a
// run's curves and sample grids open in `tensorboard --logdir runs`.
//
// An event file (events.out.tfevents.<unix seconds>.<hostname>) is a
// sequence of records, each
//   uint64 LE  length of the data
//   uint32 LE  masked CRC32C of those 8 length bytes
//   bytes      the data: one protobuf-encoded Event
//   uint32 LE  masked CRC32C of the data
// The first Event of a file carries only its wall time and the file version
// "brain.Event:2"; each later one a step and a Summary of tagged values: here
// scalars (float) and images (PNG bytes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace ng::tools {

// CRC32C, the Castagnoli CRC (reflected polynomial 0x82F63B78) that the
// record framing uses; zlib's crc32 is another polynomial.
uint32_t crc32c(const void* data, size_t size);
// The CRC as records store it: rotated and offset, because a CRC computed
// over data that holds CRCs is weak.
uint32_t masked_crc32c(const void* data, size_t size);

struct TensorBoardScalar {
  std::string tag;
  float value = 0;  // TensorBoard's simple_value is a float32
};

struct TensorBoardImage {
  std::string tag;
  int64_t height = 0, width = 0;
  int64_t colorspace = 0;  // channels: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA
  std::vector<uint8_t> png;
};

struct TensorBoardEvent {
  double wall_time = 0;      // seconds since 1970
  int64_t step = 0;
  std::string file_version;  // "brain.Event:2" in a file's first event, else empty
  std::vector<TensorBoardScalar> scalars;
  std::vector<TensorBoardImage> images;
};

// The version string of the first event of every file.
inline constexpr const char* kTensorBoardFileVersion = "brain.Event:2";

// Writes one new event file in a folder. Every event is handed to the kernel
// (one write) before add_* returns, so a crash or kill -9 of the process
// loses none already added; only a power cut may (there is no fsync).
class TensorBoardWriter {
 public:
  // Creates `directory` if needed, and in it a new file named
  // events.out.tfevents.<unix seconds>.<hostname>, with ".1", ".2", ...
  // appended when a file of that name exists (two writers in one second):
  // an event file is never appended to by a second writer.
  explicit TensorBoardWriter(const std::string& directory);
  ~TensorBoardWriter();
  TensorBoardWriter(const TensorBoardWriter&) = delete;
  TensorBoardWriter& operator=(const TensorBoardWriter&) = delete;

  const std::string& path() const { return path_; }

  void add_scalar(const std::string& tag, double value, int64_t step);
  // Several scalars of one step as one event (a metrics row stays whole).
  void add_scalars(const std::map<std::string, double>& values, int64_t step);
  // An image already encoded as PNG (or JPEG); its size is read from its header.
  void add_image(const std::string& tag, const std::vector<uint8_t>& png, int64_t step);
  // An image tensor [C,H,W] (C = 1 or 3) or [H,W] in [0,1], encoded as PNG.
  void add_image(const std::string& tag, const Tensor& image, int64_t step);

 private:
  std::string path_;
  int fd_ = -1;

  void write_event(const TensorBoardEvent& event);
};

// Every event of an event file, in order. Each record's length and data
// CRCs are checked; a bad CRC, a truncated record or data that is not an
// Event throws ng::Error naming the file and the record's byte offset.
// Fields other than those above (TensorFlow's tensors, plugin metadata,
// histograms) are skipped.
std::vector<TensorBoardEvent> read_tensorboard_events(const std::string& path);

}  // namespace ng::tools
