#include "engine/io/safetensors.h"

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/io/atomic_file.h"

namespace ng {

// The format stores little-endian bytes; we copy them straight into memory.
static_assert(std::endian::native == std::endian::little, "safetensors io assumes a little-endian host");

namespace {

using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

// Headers bigger than this are surely corrupt (the reference reader uses the same bound).
constexpr uint64_t kMaxHeaderBytes = 100u << 20;

const char* safetensors_dtype(DType t) { return t == DType::f32 ? "F32" : "F64"; }

// Every dtype the format defines, with its element size in bytes; we load
// the floating ones below and name the rest in a clear error.
int64_t known_dtype_size(const std::string& d) {
  static const std::map<std::string, int64_t> sizes = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E4M3", 1}, {"F8_E5M2", 1}, {"I16", 2}, {"U16", 2},
      {"F16", 2},  {"BF16", 2}, {"I32", 4}, {"U32", 4},     {"F32", 4},     {"I64", 8}, {"U64", 8},
      {"F64", 8}};
  auto it = sizes.find(d);
  return it == sizes.end() ? 0 : it->second;
}

bool loadable_dtype(const std::string& d) {
  return d == "F32" || d == "F64" || d == "F16" || d == "BF16" || d == "I64";
}

float bf16_to_float(uint16_t h) { return std::bit_cast<float>(uint32_t(h) << 16); }

// IEEE half: 1 sign bit, 5 exponent bits (bias 15), 10 mantissa bits.
float f16_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h >> 15) << 31;
  uint32_t exponent = (h >> 10) & 0x1f;
  uint32_t mantissa = h & 0x3ff;
  if (exponent == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));  // inf, nan
  if (exponent == 0) {
    if (mantissa == 0) return std::bit_cast<float>(sign);  // +-0
    // Subnormal: shift until the implicit leading 1 appears, adjusting the exponent.
    exponent = 1;
    while (!(mantissa & 0x400)) {
      mantissa <<= 1;
      --exponent;
    }
    mantissa &= 0x3ff;
  }
  return std::bit_cast<float>(sign | ((exponent + 127 - 15) << 23) | (mantissa << 13));
}

// ---- saving -----------------------------------------------------------------

std::string build_header(const std::string& path, const NamedTensors& tensors, const std::vector<Tensor>& host,
                         const Metadata& metadata) {
  ordered_json header = ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const uint64_t nbytes = uint64_t(host[i].numel()) * dtype_size(host[i].dtype());
    header[tensors[i].first] = {{"dtype", safetensors_dtype(host[i].dtype())},
                                {"shape", host[i].shape()},
                                {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const json::exception& e) {  // e.g. a name that is not valid UTF-8
    throw Error(path + ": cannot encode the safetensors header: " + e.what());
  }
  text.resize((text.size() + 7) / 8 * 8, ' ');  // pad so the data starts 8-aligned
  return text;
}

}  // namespace

void save_safetensors(const std::string& path, const NamedTensors& tensors, const Metadata& metadata) {
  std::vector<Tensor> host;
  std::map<std::string, int> seen;
  for (const auto& [name, t] : tensors) {
    NG_CHECK(!name.empty(), "save_safetensors(", path, "): a tensor has an empty name");
    NG_CHECK(name != "__metadata__", "save_safetensors(", path, "): '__metadata__' is reserved, not a tensor name");
    NG_CHECK(seen[name]++ == 0, "save_safetensors(", path, "): tensor name '", name, "' appears twice");
    NG_CHECK(t.defined(), "save_safetensors(", path, "): tensor '", name, "' is undefined");
    host.push_back(t.detach().to(Device::cpu()).contiguous());
  }
  const std::string header = build_header(path, tensors, host, metadata);
  unsigned char length[8];
  for (int i = 0; i < 8; ++i) length[i] = uint8_t(uint64_t(header.size()) >> (8 * i));

  AtomicFile file(path);
  file.write(length, 8);
  file.write(header.data(), header.size());
  for (const Tensor& t : host) file.write(t.raw_data(), size_t(t.numel()) * dtype_size(t.dtype()));
  file.commit();
}

// ---- loading ----------------------------------------------------------------

namespace {

struct Entry {
  std::string name;
  std::string dtype;
  Shape shape;
  uint64_t begin = 0, end = 0;
};

class InputFile {
 public:
  explicit InputFile(const std::string& path) : path_(path) {
    std::error_code ec;
    NG_CHECK(std::filesystem::exists(path, ec), path, ": no such file");
    NG_CHECK(std::filesystem::is_regular_file(path, ec), path, ": not a regular file");
    size_ = std::filesystem::file_size(path, ec);
    NG_CHECK(!ec, path, ": cannot get the file size: ", ec.message());
    file_ = std::fopen(path.c_str(), "rb");
    NG_CHECK(file_ != nullptr, path, ": cannot open for reading: ", std::strerror(errno));
  }
  ~InputFile() { std::fclose(file_); }
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  uint64_t size() const { return size_; }
  void read_at(uint64_t offset, void* out, size_t n, const char* what) {
    NG_CHECK(std::fseek(file_, long(offset), SEEK_SET) == 0 && std::fread(out, 1, n, file_) == n, path_,
             ": truncated file: reading ", what, " (", n, " bytes at offset ", offset, ") failed");
  }

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
  uint64_t size_ = 0;
};

uint64_t read_u64_le(const unsigned char* b) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | b[i];
  return v;
}

json parse_header(const std::string& path, const std::string& text) {
  json header;
  try {
    header = json::parse(text);
  } catch (const json::exception& e) {  // a syntax error, or a number too large for a double (out_of_range)
    throw Error(path + ": invalid JSON in the safetensors header: " + e.what());
  }
  NG_CHECK(header.is_object(), path, ": the safetensors header must be a JSON object, got ", header.type_name());
  return header;
}

Metadata parse_metadata(const std::string& path, const json& value) {
  NG_CHECK(value.is_object(), path, ": __metadata__ must be an object of strings, got ", value.type_name());
  Metadata metadata;
  for (const auto& [key, v] : value.items()) {
    NG_CHECK(v.is_string(), path, ": __metadata__ value for '", key, "' must be a string, got ", v.type_name());
    metadata[key] = v.get<std::string>();
  }
  return metadata;
}

Entry parse_entry(const std::string& path, const std::string& name, const json& value) {
  const std::string where = path + ": tensor '" + name + "'";
  NG_CHECK(value.is_object(), where, ": entry must be an object with dtype, shape and data_offsets");
  for (const char* field : {"dtype", "shape", "data_offsets"})
    NG_CHECK(value.contains(field), where, ": entry has no '", field, "'");

  Entry e;
  e.name = name;
  NG_CHECK(value["dtype"].is_string(), where, ": dtype must be a string");
  e.dtype = value["dtype"].get<std::string>();
  const int64_t elem_size = known_dtype_size(e.dtype);
  NG_CHECK(elem_size > 0, where, ": unknown dtype '", e.dtype, "'");
  NG_CHECK(loadable_dtype(e.dtype), where, ": unsupported dtype ", e.dtype, " (nanogen loads F32, F64, F16, BF16, I64)");

  const json& shape = value["shape"];
  NG_CHECK(shape.is_array(), where, ": shape must be an array of sizes");
  uint64_t numel = 1;
  for (const json& s : shape) {
    NG_CHECK(s.is_number_unsigned(), where, ": shape ", shape.dump(), " must hold non-negative integers");
    const uint64_t size = s.get<uint64_t>();
    constexpr uint64_t limit = uint64_t(1) << 62;
    NG_CHECK(size < limit && !__builtin_mul_overflow(numel, size, &numel) && numel < limit, where, ": shape ",
             shape.dump(), " is too large");
    e.shape.push_back(int64_t(size));
  }

  const json& offsets = value["data_offsets"];
  NG_CHECK(offsets.is_array() && offsets.size() == 2 && offsets[0].is_number_unsigned() &&
               offsets[1].is_number_unsigned(),
           where, ": data_offsets must be two non-negative integers [begin, end], got ", offsets.dump());
  e.begin = offsets[0].get<uint64_t>();
  e.end = offsets[1].get<uint64_t>();
  NG_CHECK(e.begin <= e.end, where, ": data_offsets [", e.begin, ",", e.end, "] end before they begin");
  const uint64_t expected = numel * uint64_t(elem_size);
  NG_CHECK(e.end - e.begin == expected, where, ": data_offsets [", e.begin, ",", e.end, "] hold ", e.end - e.begin,
           " bytes but shape ", shape_str(e.shape), " of ", e.dtype, " needs ", expected);
  return e;
}

// The data section must be exactly the tensors back to back: no overlap, no
// gap, nothing after the last one (the reference implementation's rule).
void check_layout(const std::string& path, std::vector<Entry>& entries, uint64_t data_bytes) {
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return std::pair(a.begin, a.end) < std::pair(b.begin, b.end); });
  uint64_t expected_begin = 0;
  const Entry* previous = nullptr;
  for (const Entry& e : entries) {
    NG_CHECK(e.end <= data_bytes, path, ": truncated file or bad offsets: tensor '", e.name, "' needs data bytes [",
             e.begin, ",", e.end, ") but the data section holds only ", data_bytes, " bytes");
    NG_CHECK(e.begin >= expected_begin, path, ": overlapping data_offsets: tensor '", e.name, "' [", e.begin, ",",
             e.end, ") overlaps tensor '", previous ? previous->name : "", "' which ends at ", expected_begin);
    NG_CHECK(e.begin == expected_begin, path, ": gap in the data: tensor '", e.name, "' begins at ", e.begin,
             " but the previous tensor ends at ", expected_begin);
    expected_begin = e.end;
    previous = &e;
  }
  NG_CHECK(expected_begin == data_bytes, path, ": ", data_bytes - expected_begin,
           " unexpected bytes after the last tensor's data (data section ", data_bytes, " bytes, tensors use ",
           expected_begin, ")");
}

Tensor read_tensor(InputFile& file, uint64_t data_start, const Entry& e) {
  const size_t nbytes = size_t(e.end - e.begin);
  const uint64_t offset = data_start + e.begin;
  const std::string what = "tensor '" + e.name + "'";
  if (e.dtype == "F32" || e.dtype == "F64") {
    Tensor t = empty(e.shape, TensorOptions{}.with_dtype(e.dtype == "F32" ? DType::f32 : DType::f64));
    if (nbytes) file.read_at(offset, t.raw_data(), nbytes, what.c_str());
    return t;
  }
  if (e.dtype == "I64") {
    // PyTorch's integer buffers (BatchNorm's num_batches_tracked): counts,
    // held as float32 here like every other buffer (exact up to 2^24).
    std::vector<int64_t> values(nbytes / 8);
    if (nbytes) file.read_at(offset, values.data(), nbytes, what.c_str());
    Tensor t = empty(e.shape);
    float* out = t.data<float>();
    for (size_t i = 0; i < values.size(); ++i) out[i] = float(values[i]);
    return t;
  }
  // 16-bit floats: read the raw halves, widen to float32.
  std::vector<uint16_t> halves(nbytes / 2);
  if (nbytes) file.read_at(offset, halves.data(), nbytes, what.c_str());
  Tensor t = empty(e.shape);
  float* out = t.data<float>();
  const bool bf16 = e.dtype == "BF16";
  for (size_t i = 0; i < halves.size(); ++i) out[i] = bf16 ? bf16_to_float(halves[i]) : f16_to_float(halves[i]);
  return t;
}

}  // namespace

SafetensorsContent load_safetensors(const std::string& path) {
  InputFile file(path);
  NG_CHECK(file.size() >= 8, path, ": truncated file: ", file.size(),
           " bytes, too short for the 8-byte header length");
  unsigned char length_bytes[8];
  file.read_at(0, length_bytes, 8, "the header length");
  const uint64_t header_bytes = read_u64_le(length_bytes);
  NG_CHECK(header_bytes <= file.size() - 8, path, ": header length ", header_bytes,
           " goes beyond the end of the file (", file.size(), " bytes): truncated or not a safetensors file");
  NG_CHECK(header_bytes <= kMaxHeaderBytes, path, ": header length ", header_bytes, " is implausibly large");

  std::string text(header_bytes, '\0');
  file.read_at(8, text.data(), text.size(), "the header");
  const json header = parse_header(path, text);

  SafetensorsContent content;
  std::vector<Entry> entries;
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__")
      content.metadata = parse_metadata(path, value);
    else
      entries.push_back(parse_entry(path, key, value));
  }
  const uint64_t data_start = 8 + header_bytes;
  check_layout(path, entries, file.size() - data_start);
  for (const Entry& e : entries) content.tensors.emplace_back(e.name, read_tensor(file, data_start, e));
  return content;
}

const Tensor* SafetensorsContent::find(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return &t;
  return nullptr;
}

const Tensor& SafetensorsContent::at(const std::string& name) const {
  const Tensor* t = find(name);
  NG_CHECK(t != nullptr, "safetensors: no tensor named '", name, "'");
  return *t;
}

// ---- checking a set of tensors ----------------------------------------------

static std::string describe(const Shape& shape, DType dtype) { return shape_str(shape) + " " + dtype_name(dtype); }

TensorSetDiff diff_tensor_set(const NamedTensors& loaded, const std::vector<TensorSpec>& expected) {
  std::map<std::string, const Tensor*> by_name;
  for (const auto& [name, t] : loaded) by_name[name] = &t;
  std::map<std::string, bool> wanted;
  TensorSetDiff diff;
  for (const TensorSpec& spec : expected) {
    wanted[spec.name] = true;
    auto it = by_name.find(spec.name);
    if (it == by_name.end()) {
      diff.missing.push_back(spec.name);
      continue;
    }
    const Tensor& t = *it->second;
    if (t.shape() != spec.shape || t.dtype() != spec.dtype)
      diff.mismatched.push_back(spec.name + ": found " + describe(t.shape(), t.dtype()) + ", expected " +
                                describe(spec.shape, spec.dtype));
  }
  for (const auto& [name, t] : loaded)
    if (!wanted.count(name)) diff.unexpected.push_back(name);
  return diff;
}

std::string TensorSetDiff::message() const {
  if (ok()) return "";
  std::ostringstream os;
  os << missing.size() << " missing, " << unexpected.size() << " unexpected, " << mismatched.size() << " mismatched";
  for (const auto& m : missing) os << "\n  missing: " << m;
  for (const auto& u : unexpected) os << "\n  unexpected: " << u;
  for (const auto& m : mismatched) os << "\n  mismatched: " << m;
  return os.str();
}

void check_tensor_set(const NamedTensors& loaded, const std::vector<TensorSpec>& expected, const std::string& what,
                      bool allow_missing, bool allow_unexpected) {
  TensorSetDiff diff = diff_tensor_set(loaded, expected);
  if (allow_missing) diff.missing.clear();
  if (allow_unexpected) diff.unexpected.clear();
  NG_CHECK(diff.ok(), what, ": ", diff.message());
}

}  // namespace ng
