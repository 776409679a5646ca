#include "tools/tensorboard.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string_view>

#include "engine/error.h"
#include "engine/io/image.h"

namespace ng::tools {

// ---------------------------------------------------------------------------
// CRC32C, one table lookup per byte.

namespace {

// table[b] is the CRC register after shifting the byte b through it bit by
// bit; the table is built once, at compile time.
constexpr std::array<uint32_t, 256> make_crc32c_table() {
  constexpr uint32_t kReflectedPolynomial = 0x82F63B78u;
  std::array<uint32_t, 256> table{};
  for (uint32_t byte = 0; byte < 256; ++byte) {
    uint32_t crc = byte;
    for (int bit = 0; bit < 8; ++bit) crc = (crc & 1u) ? (crc >> 1) ^ kReflectedPolynomial : crc >> 1;
    table[byte] = crc;
  }
  return table;
}

constexpr std::array<uint32_t, 256> kCrc32cTable = make_crc32c_table();

}  // namespace

uint32_t crc32c(const void* data, size_t size) {
  const auto* bytes = static_cast<const uint8_t*>(data);
  uint32_t crc = 0xFFFFFFFFu;  // the register starts all ones, and is inverted at the end
  for (size_t i = 0; i < size; ++i) crc = kCrc32cTable[(crc ^ bytes[i]) & 0xFFu] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

uint32_t masked_crc32c(const void* data, size_t size) {
  const uint32_t crc = crc32c(data, size);
  return ((crc >> 15) | (crc << 17)) + 0xA282EAD8u;  // uint32 arithmetic: wraps
}

namespace {

// ---------------------------------------------------------------------------
// The protobuf wire format, as far as an Event needs it. A field is a key,
// varint(field_number << 3 | wire_type), then its value: a varint, 8 or 4
// little-endian bytes, or varint(length) and that many bytes (strings, bytes
// and embedded messages alike).

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

// The field numbers of TensorFlow's event.proto and summary.proto used here.
namespace field {
constexpr uint32_t kEventWallTime = 1;     // double
constexpr uint32_t kEventStep = 2;         // int64
constexpr uint32_t kEventFileVersion = 3;  // string
constexpr uint32_t kEventSummary = 5;      // Summary
constexpr uint32_t kSummaryValue = 1;      // repeated Value
constexpr uint32_t kValueTag = 1;          // string
constexpr uint32_t kValueSimpleValue = 2;  // float
constexpr uint32_t kValueImage = 4;        // Image
constexpr uint32_t kImageHeight = 1;       // int32
constexpr uint32_t kImageWidth = 2;        // int32
constexpr uint32_t kImageColorspace = 3;   // int32
constexpr uint32_t kImageEncoded = 4;      // bytes
}  // namespace field

void append_little_endian(std::string& out, uint64_t value, size_t bytes) {
  for (size_t i = 0; i < bytes; ++i) out.push_back(char((value >> (8 * i)) & 0xFFu));
}

uint64_t read_little_endian(const char* in, size_t bytes) {
  uint64_t value = 0;
  for (size_t i = 0; i < bytes; ++i) value |= uint64_t(uint8_t(in[i])) << (8 * i);
  return value;
}

// Builds one message, field by field.
class ProtoWriter {
 public:
  void varint_field(uint32_t number, int64_t value) {
    key(number, kVarint);
    varint(uint64_t(value));  // a negative int64 takes 10 bytes, as protobuf's own encoder writes it
  }
  void double_field(uint32_t number, double value) {
    key(number, kFixed64);
    append_little_endian(bytes_, std::bit_cast<uint64_t>(value), 8);
  }
  void float_field(uint32_t number, float value) {
    key(number, kFixed32);
    append_little_endian(bytes_, std::bit_cast<uint32_t>(value), 4);
  }
  // Strings, bytes and embedded messages (another writer's bytes()).
  void bytes_field(uint32_t number, std::string_view value) {
    key(number, kLengthDelimited);
    varint(value.size());
    bytes_.append(value);
  }
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;

  // 7 bits a byte, low bits first; the high bit says that more follow.
  void varint(uint64_t value) {
    for (; value >= 0x80; value >>= 7) bytes_.push_back(char(0x80 | (value & 0x7F)));
    bytes_.push_back(char(value));
  }
  void key(uint32_t number, WireType type) { varint((uint64_t(number) << 3) | type); }
};

// Reads one message's fields in order: while (r.next()) { switch (r.number()) ... }.
// Every read checks that the message holds it; a field not asked for is
// skipped by next(). Errors throw ng::Error (the caller names the record).
class ProtoReader {
 public:
  explicit ProtoReader(std::string_view bytes) : bytes_(bytes) {}

  // Moves to the next field, skipping the value of the current one if it was
  // not read; false at the end of the message.
  bool next() {
    if (!value_read_) skip_value();
    if (at_ == bytes_.size()) return false;
    const uint64_t key = varint();
    number_ = uint32_t(key >> 3);
    type_ = uint32_t(key & 7);
    NG_CHECK(number_ != 0, "field number 0 at byte ", at_);
    value_read_ = false;
    return true;
  }
  uint32_t number() const { return number_; }

  int64_t as_int64() { return int64_t(take(kVarint, [&] { return varint(); })); }
  double as_double() {
    return std::bit_cast<double>(take(kFixed64, [&] { return read_little_endian(fixed(8), 8); }));
  }
  float as_float() {
    return std::bit_cast<float>(uint32_t(take(kFixed32, [&] { return read_little_endian(fixed(4), 4); })));
  }
  std::string_view as_bytes() {
    std::string_view value;
    take(kLengthDelimited, [&] {
      const uint64_t length = varint();
      value = bytes_.substr(size_t(at_), size_t(length));
      fixed(length);
      return length;
    });
    return value;
  }

 private:
  std::string_view bytes_;
  uint64_t at_ = 0;
  uint32_t number_ = 0, type_ = 0;
  bool value_read_ = true;

  uint64_t varint() {
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      NG_CHECK(at_ < bytes_.size(), "the message ends inside a varint");
      const auto byte = uint8_t(bytes_[size_t(at_++)]);
      value |= uint64_t(byte & 0x7F) << shift;
      if (!(byte & 0x80)) return value;
    }
    NG_CHECK(false, "a varint longer than 10 bytes at byte ", at_);
    return 0;
  }
  // The next n bytes, which the message must hold.
  const char* fixed(uint64_t n) {
    NG_CHECK(n <= bytes_.size() - at_, "field ", number_, " needs ", n, " bytes; the message has ",
             bytes_.size() - at_, " left");
    const char* start = bytes_.data() + at_;
    at_ += n;
    return start;
  }
  template <class Read>
  uint64_t take(WireType expected, Read read) {
    NG_CHECK(type_ == expected, "field ", number_, " has wire type ", type_, ", expected ", uint32_t(expected));
    value_read_ = true;
    return read();
  }
  void skip_value() {
    switch (type_) {
      case kVarint: as_int64(); break;
      case kFixed64: as_double(); break;
      case kFixed32: as_float(); break;
      case kLengthDelimited: as_bytes(); break;
      default: NG_CHECK(false, "field ", number_, " has wire type ", type_, ", which an Event never uses");
    }
  }
};

// ---------------------------------------------------------------------------
// Events to and from protobuf bytes.

std::string encode_event(const TensorBoardEvent& event) {
  ProtoWriter summary;
  for (const TensorBoardScalar& scalar : event.scalars) {
    ProtoWriter value;
    value.bytes_field(field::kValueTag, scalar.tag);
    value.float_field(field::kValueSimpleValue, scalar.value);
    summary.bytes_field(field::kSummaryValue, value.bytes());
  }
  for (const TensorBoardImage& image : event.images) {
    ProtoWriter encoded;
    encoded.varint_field(field::kImageHeight, image.height);
    encoded.varint_field(field::kImageWidth, image.width);
    encoded.varint_field(field::kImageColorspace, image.colorspace);
    encoded.bytes_field(field::kImageEncoded,
                        std::string_view(reinterpret_cast<const char*>(image.png.data()), image.png.size()));
    ProtoWriter value;
    value.bytes_field(field::kValueTag, image.tag);
    value.bytes_field(field::kValueImage, encoded.bytes());
    summary.bytes_field(field::kSummaryValue, value.bytes());
  }
  ProtoWriter out;
  out.double_field(field::kEventWallTime, event.wall_time);
  if (!event.file_version.empty()) out.bytes_field(field::kEventFileVersion, event.file_version);
  if (!summary.bytes().empty()) {
    out.varint_field(field::kEventStep, event.step);
    out.bytes_field(field::kEventSummary, summary.bytes());
  }
  return out.bytes();
}

TensorBoardImage decode_image(std::string_view bytes) {
  TensorBoardImage image;
  for (ProtoReader r(bytes); r.next();) {
    switch (r.number()) {
      case field::kImageHeight: image.height = r.as_int64(); break;
      case field::kImageWidth: image.width = r.as_int64(); break;
      case field::kImageColorspace: image.colorspace = r.as_int64(); break;
      case field::kImageEncoded: {
        const std::string_view png = r.as_bytes();
        image.png.assign(png.begin(), png.end());
        break;
      }
      default: break;  // skipped
    }
  }
  return image;
}

// A Value is a scalar or an image here; other kinds (tensors, histograms)
// are skipped.
void decode_value(std::string_view bytes, TensorBoardEvent& event) {
  std::string tag;
  std::optional<float> scalar;
  std::optional<TensorBoardImage> image;
  for (ProtoReader r(bytes); r.next();) {
    switch (r.number()) {
      case field::kValueTag: tag = r.as_bytes(); break;
      case field::kValueSimpleValue: scalar = r.as_float(); break;
      case field::kValueImage: image = decode_image(r.as_bytes()); break;
      default: break;
    }
  }
  if (scalar) event.scalars.push_back({tag, *scalar});
  if (image) {
    image->tag = tag;
    event.images.push_back(std::move(*image));
  }
}

TensorBoardEvent decode_event(std::string_view bytes) {
  TensorBoardEvent event;
  for (ProtoReader r(bytes); r.next();) {
    switch (r.number()) {
      case field::kEventWallTime: event.wall_time = r.as_double(); break;
      case field::kEventStep: event.step = r.as_int64(); break;
      case field::kEventFileVersion: event.file_version = r.as_bytes(); break;
      case field::kEventSummary:
        for (ProtoReader summary(r.as_bytes()); summary.next();)
          if (summary.number() == field::kSummaryValue) decode_value(summary.as_bytes(), event);
        break;
      default: break;
    }
  }
  return event;
}

// ---------------------------------------------------------------------------
// Records: the framing around each event's bytes.

constexpr size_t kLengthBytes = 8, kCrcBytes = 4;

std::string frame_record(const std::string& data) {
  std::string record;
  append_little_endian(record, data.size(), kLengthBytes);
  append_little_endian(record, masked_crc32c(record.data(), kLengthBytes), kCrcBytes);
  record += data;
  append_little_endian(record, masked_crc32c(data.data(), data.size()), kCrcBytes);
  return record;
}

void write_all(int fd, const std::string& bytes, const std::string& path) {
  for (size_t done = 0; done < bytes.size();) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    NG_CHECK(n > 0, "tensorboard: cannot write to ", path, ": ", n == 0 ? "nothing was written" : std::strerror(errno));
    done += size_t(n);
  }
}

std::string host_name() {
  char name[256] = {0};
  if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

double seconds_since_1970() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

// ---------------------------------------------------------------------------
// The writer.

TensorBoardWriter::TensorBoardWriter(const std::string& directory) {
  std::error_code error;
  std::filesystem::create_directories(directory, error);
  NG_CHECK(!error, "tensorboard: cannot create the folder ", directory, ": ", error.message());
  const std::string stem = directory + "/events.out.tfevents." + std::to_string(int64_t(seconds_since_1970())) +
                           "." + host_name();
  // O_EXCL: the name is new, or taken by someone else's file and we try the next.
  for (int n = 0; fd_ < 0; ++n) {
    path_ = n == 0 ? stem : stem + "." + std::to_string(n);
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    NG_CHECK(fd_ >= 0 || errno == EEXIST, "tensorboard: cannot create ", path_, ": ", std::strerror(errno));
  }
  TensorBoardEvent first;
  first.wall_time = seconds_since_1970();
  first.file_version = kTensorBoardFileVersion;
  try {
    write_event(first);
  } catch (...) {  // the destructor does not run for a constructor that throws
    ::close(fd_);
    throw;
  }
}

TensorBoardWriter::~TensorBoardWriter() {
  if (fd_ >= 0) ::close(fd_);
}

void TensorBoardWriter::add_scalar(const std::string& tag, double value, int64_t step) {
  add_scalars({{tag, value}}, step);
}

void TensorBoardWriter::add_scalars(const std::map<std::string, double>& values, int64_t step) {
  TensorBoardEvent event;
  event.wall_time = seconds_since_1970();
  event.step = step;
  for (const auto& [tag, value] : values) {
    NG_CHECK(!tag.empty(), "tensorboard: a scalar needs a tag");
    event.scalars.push_back({tag, float(value)});
  }
  if (!event.scalars.empty()) write_event(event);
}

void TensorBoardWriter::add_image(const std::string& tag, const std::vector<uint8_t>& png, int64_t step) {
  NG_CHECK(!tag.empty(), "tensorboard: an image needs a tag");
  const ImageSize size = encoded_image_size(png);
  TensorBoardEvent event;
  event.wall_time = seconds_since_1970();
  event.step = step;
  event.images.push_back({tag, size.height, size.width, size.channels, png});
  write_event(event);
}

void TensorBoardWriter::add_image(const std::string& tag, const Tensor& image, int64_t step) {
  add_image(tag, encode_png(image), step);
}

// One write per record: a killed process leaves whole records, and at worst
// a cut last one, which a reader reports.
void TensorBoardWriter::write_event(const TensorBoardEvent& event) {
  write_all(fd_, frame_record(encode_event(event)), path_);
}

// ---------------------------------------------------------------------------
// The reader.

std::vector<TensorBoardEvent> read_tensorboard_events(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  NG_CHECK(in.good(), "tensorboard: cannot open ", path);
  const std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());

  std::vector<TensorBoardEvent> events;
  for (size_t offset = 0; offset < file.size();) {
    const std::string where = "tensorboard events file " + path + ": the record at byte " + std::to_string(offset);
    const size_t left = file.size() - offset;
    NG_CHECK(left >= kLengthBytes + kCrcBytes, where, " is cut short: ", left, " bytes, fewer than its ",
             kLengthBytes + kCrcBytes, "-byte header");
    const char* header = file.data() + offset;
    const uint64_t length = read_little_endian(header, kLengthBytes);
    const auto length_crc = uint32_t(read_little_endian(header + kLengthBytes, kCrcBytes));
    NG_CHECK(length_crc == masked_crc32c(header, kLengthBytes), where, " has a bad length CRC (the length bytes ",
             "are damaged)");
    const size_t body = left - kLengthBytes - kCrcBytes;
    NG_CHECK(body >= kCrcBytes && length <= body - kCrcBytes, where, " is cut short: it declares ", length,
             " bytes of data, and ", body, " bytes follow its header (data and a ", kCrcBytes, "-byte CRC needed)");
    const char* data = header + kLengthBytes + kCrcBytes;
    const auto data_crc = uint32_t(read_little_endian(data + length, kCrcBytes));
    NG_CHECK(data_crc == masked_crc32c(data, size_t(length)), where, " has a bad data CRC (its ", length,
             " bytes of data are damaged)");
    try {
      events.push_back(decode_event(std::string_view(data, size_t(length))));
    } catch (const Error& e) {
      throw Error(where + " holds no readable Event: " + e.what());
    }
    offset += kLengthBytes + kCrcBytes + size_t(length) + kCrcBytes;
  }
  return events;
}

}  // namespace ng::tools
