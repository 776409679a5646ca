// safetensors checkpoints: round trips, files laid out by hand, headers
// parsed by hand, every kind of corrupt file, atomic writes, and the check
// of a loaded set against expected names/shapes/dtypes.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "engine/io/atomic_file.h"
#include "engine/io/safetensors.h"
#include "engine/nanogen.h"
#include "support/gradcheck.h"
#include "support/temp_dir.h"

using namespace ng;
using test::error_of;
using ng::test::read_bytes;
using ng::test::TempDir;
using ng::test::write_bytes;
using json = nlohmann::json;

namespace {

// 8-byte little-endian length + header padded with spaces to 8 + data.
std::string safetensors_bytes(const std::string& header_json, const std::string& data, bool pad = true) {
  std::string header = header_json;
  if (pad) header.resize((header.size() + 7) / 8 * 8, ' ');
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[size_t(i)] = char(uint64_t(header.size()) >> (8 * i) & 0xff);
  return out + header + data;
}

template <class T>
std::string raw(std::initializer_list<T> values) {
  std::string out(values.size() * sizeof(T), '\0');
  std::memcpy(out.data(), std::data(values), out.size());
  return out;
}

// Writes `bytes` as a file and expects loading it to fail with a message
// naming the file and containing `problem`.
void expect_load_error(const TempDir& dir, const std::string& bytes, const std::string& problem) {
  const std::string path = dir.file("bad.safetensors");
  write_bytes(path, bytes);
  const std::string message = error_of([&] { load_safetensors(path); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find(problem), std::string::npos) << "expected '" << problem << "' in: " << message;
}

void expect_same(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  EXPECT_EQ(a.dtype(), b.dtype());
  EXPECT_EQ(a.to_vector<double>(), b.to_vector<double>());
}

}  // namespace

TEST(Safetensors, RoundTripKeepsOrderValuesAndMetadata) {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  const Tensor w = test::uniform({2, 3}, 1, -1, 1, DType::f32);
  const Tensor b = test::uniform({4}, 2);  // float64
  const Tensor scalar = scalar_tensor(-7.25);
  const Tensor empty_f64 = zeros({0, 5}, TensorOptions{}.with_dtype(DType::f64));
  const Tensor transposed = test::uniform({3, 4}, 3, -1, 1, DType::f32).t();  // non-contiguous
  const NamedTensors saved = {{"enc.0.weight", w}, {"enc.0.bias", b}, {"scalar", scalar},
                              {"empty", empty_f64}, {"transposed", transposed}};
  const Metadata metadata = {{"epoch", "3"}, {"model", "vae"}, {"format", "pt"}};
  save_safetensors(path, saved, metadata);

  const SafetensorsContent loaded = load_safetensors(path);
  ASSERT_EQ(loaded.tensors.size(), saved.size());
  for (size_t i = 0; i < saved.size(); ++i) {
    EXPECT_EQ(loaded.tensors[i].first, saved[i].first);  // file order = given order
    expect_same(loaded.tensors[i].second, saved[i].second);
    EXPECT_TRUE(loaded.tensors[i].second.is_contiguous());
  }
  EXPECT_EQ(loaded.at("scalar").dim(), 0);
  EXPECT_EQ(loaded.at("scalar").item(), -7.25);
  EXPECT_EQ(loaded.at("empty").shape(), (Shape{0, 5}));
  EXPECT_EQ(loaded.metadata, metadata);
  EXPECT_EQ(loaded.find("nope"), nullptr);
  EXPECT_NE(error_of([&] { loaded.at("nope"); }).find("'nope'"), std::string::npos);
}

TEST(Safetensors, MapOverloadWritesInNameOrder) {
  TempDir dir;
  const std::string path = dir.file("m.safetensors");
  save_safetensors(path, std::map<std::string, Tensor>{{"z", ones({2})}, {"a", zeros({3})}});
  const SafetensorsContent loaded = load_safetensors(path);
  ASSERT_EQ(loaded.tensors.size(), 2u);
  EXPECT_EQ(loaded.tensors[0].first, "a");
  EXPECT_EQ(loaded.tensors[1].first, "z");
  EXPECT_TRUE(loaded.metadata.empty());

  save_safetensors(path, NamedTensors{});  // nothing at all is a valid file too
  EXPECT_TRUE(load_safetensors(path).tensors.empty());
}

TEST(Safetensors, LoadsAFileLaidOutByHand) {
  TempDir dir;
  // Header keys deliberately not in data order, no padding, metadata last.
  const std::string header =
      R"({"b":{"dtype":"F64","shape":[2],"data_offsets":[8,24]},)"
      R"("a":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]},)"
      R"("c":{"dtype":"F32","shape":[],"data_offsets":[24,28]},)"
      R"("__metadata__":{"note":"by hand"}})";
  const std::string data = raw<float>({1.5f, -2.0f}) + raw<double>({3.25, 1e-300}) + raw<float>({42.0f});
  const std::string path = dir.file("hand.safetensors");
  write_bytes(path, safetensors_bytes(header, data, /*pad=*/false));

  const SafetensorsContent loaded = load_safetensors(path);
  ASSERT_EQ(loaded.tensors.size(), 3u);
  EXPECT_EQ(loaded.tensors[0].first, "a");  // ordered by data offset
  EXPECT_EQ(loaded.tensors[1].first, "b");
  EXPECT_EQ(loaded.tensors[2].first, "c");
  EXPECT_EQ(loaded.at("a").shape(), (Shape{1, 2}));
  EXPECT_EQ(loaded.at("a").dtype(), DType::f32);
  EXPECT_EQ(loaded.at("a").to_vector<float>(), (std::vector<float>{1.5f, -2.0f}));
  EXPECT_EQ(loaded.at("b").dtype(), DType::f64);
  EXPECT_EQ(loaded.at("b").to_vector<double>(), (std::vector<double>{3.25, 1e-300}));
  EXPECT_EQ(loaded.at("c").dim(), 0);
  EXPECT_EQ(loaded.at("c").item(), 42.0);
  EXPECT_EQ(loaded.metadata, (Metadata{{"note", "by hand"}}));
}

TEST(Safetensors, HalfPrecisionWidensToFloat32) {
  TempDir dir;
  const std::string header =
      R"({"h":{"dtype":"F16","shape":[5],"data_offsets":[0,10]},)"
      R"("bf":{"dtype":"BF16","shape":[3],"data_offsets":[10,16]}})";
  // F16: 1, -2, 2^-24 (smallest subnormal), 65504 (largest finite), +inf.
  // BF16: 1, 3.140625, -0.5.
  const std::string data = raw<uint16_t>({0x3c00, 0xc000, 0x0001, 0x7bff, 0x7c00}) +
                           raw<uint16_t>({0x3f80, 0x4049, 0xbf00});
  const std::string path = dir.file("half.safetensors");
  write_bytes(path, safetensors_bytes(header, data));
  const SafetensorsContent loaded = load_safetensors(path);
  EXPECT_EQ(loaded.at("h").dtype(), DType::f32);
  EXPECT_EQ(loaded.at("h").to_vector<float>(),
            (std::vector<float>{1.0f, -2.0f, std::ldexp(1.0f, -24), 65504.0f, INFINITY}));
  EXPECT_EQ(loaded.at("bf").to_vector<float>(), (std::vector<float>{1.0f, 3.140625f, -0.5f}));
}

TEST(Safetensors, Int64ConvertsToFloat32) {
  // PyTorch writes BatchNorm's num_batches_tracked as I64.
  TempDir dir;
  const std::string header = R"({"n":{"dtype":"I64","shape":[4],"data_offsets":[0,32]}})";
  const std::string path = dir.file("i64.safetensors");
  write_bytes(path, safetensors_bytes(header, raw<int64_t>({0, 3, -7, int64_t(1) << 24})));
  const SafetensorsContent loaded = load_safetensors(path);
  EXPECT_EQ(loaded.at("n").dtype(), DType::f32);
  EXPECT_EQ(loaded.at("n").to_vector<float>(), (std::vector<float>{0.0f, 3.0f, -7.0f, 16777216.0f}));
}

TEST(Safetensors, WrittenFileParsesByHand) {
  TempDir dir;
  const std::string path = dir.file("w.safetensors");
  const Tensor a = from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3});
  const Tensor b = from_vector(std::vector<double>{0.5, -0.25}, {2});
  save_safetensors(path, {{"a", a}, {"b", b}}, {{"k", "v"}});

  const std::string bytes = read_bytes(path);
  ASSERT_GE(bytes.size(), 8u);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | uint8_t(bytes[size_t(i)]);
  EXPECT_EQ(n % 8, 0u);  // padded so the data is 8-aligned
  ASSERT_LE(8 + n, bytes.size());
  const std::string header = bytes.substr(8, n);
  const json parsed = json::parse(header);  // trailing spaces are valid JSON whitespace
  EXPECT_EQ(header.find_last_not_of(' ') + 1, header.find_last_of('}') + 1);

  EXPECT_EQ(parsed["__metadata__"], (json{{"k", "v"}}));
  EXPECT_EQ(parsed["a"]["dtype"], "F32");
  EXPECT_EQ(parsed["a"]["shape"], (json{2, 3}));
  EXPECT_EQ(parsed["a"]["data_offsets"], (json{0, 24}));
  EXPECT_EQ(parsed["b"]["dtype"], "F64");
  EXPECT_EQ(parsed["b"]["shape"], (json{2}));
  EXPECT_EQ(parsed["b"]["data_offsets"], (json{24, 40}));
  EXPECT_EQ(parsed.size(), 3u);

  ASSERT_EQ(bytes.size(), 8 + n + 40);  // no gaps, nothing after the data
  const std::string data = bytes.substr(8 + n);
  EXPECT_EQ(data.substr(0, 24), raw<float>({1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(data.substr(24), raw<double>({0.5, -0.25}));
}

TEST(Safetensors, CorruptFilesGiveErrorsNamingTheProblem) {
  TempDir dir;
  const std::string good_header = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  const std::string good_data = raw<float>({1, 2});
  auto one = [&](const std::string& entry, const std::string& data) {
    return safetensors_bytes(R"({"w":)" + entry + "}", data);
  };

  expect_load_error(dir, "abc", "truncated file: 3 bytes");
  expect_load_error(dir, safetensors_bytes(good_header, good_data).substr(0, 60), "truncated");
  std::string huge = safetensors_bytes(good_header, good_data);
  huge[5] = 1;  // header length ~2^40
  expect_load_error(dir, huge, "goes beyond the end of the file");
  huge[7] = char(0x80);  // header length 2^63 + ...: refused from the file size, nothing allocated
  expect_load_error(dir, huge, "goes beyond the end of the file");
  expect_load_error(dir, safetensors_bytes(R"({"__metadata__":1111E111111111111111})", ""), "invalid JSON");
  expect_load_error(dir, safetensors_bytes(R"({"w":{"dtype":)", good_data), "invalid JSON");
  expect_load_error(dir, safetensors_bytes("[1,2]", ""), "must be a JSON object");
  expect_load_error(dir, safetensors_bytes(good_header, good_data + "xx"), "2 unexpected bytes after the last tensor");
  expect_load_error(dir, one(R"({"dtype":"F32","shape":[3],"data_offsets":[0,8]})", good_data),
                    "tensor 'w': data_offsets [0,8] hold 8 bytes but shape [3] of F32 needs 12");
  expect_load_error(dir, one(R"({"dtype":"F32","shape":[2],"data_offsets":[0,8]})", raw<float>({1})),
                    "truncated file or bad offsets: tensor 'w' needs data bytes [0,8)");
  expect_load_error(dir, one(R"({"dtype":"F32","shape":[2],"data_offsets":[8,0]})", good_data), "end before");
  expect_load_error(dir, one(R"({"dtype":"F17","shape":[2],"data_offsets":[0,8]})", good_data),
                    "tensor 'w': unknown dtype 'F17'");
  expect_load_error(dir, one(R"({"dtype":"I32","shape":[2],"data_offsets":[0,8]})", good_data),
                    "tensor 'w': unsupported dtype I32");
  expect_load_error(dir, one(R"({"dtype":"F32","data_offsets":[0,8]})", good_data), "has no 'shape'");
  expect_load_error(dir, one(R"({"dtype":"F32","shape":[-2],"data_offsets":[0,8]})", good_data), "non-negative");
  expect_load_error(dir, one(R"({"dtype":"F32","shape":[2],"data_offsets":[0]})", good_data),
                    "data_offsets must be two non-negative integers");
  expect_load_error(dir,
                    safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                      R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                                      raw<float>({1, 2, 3})),
                    "overlapping data_offsets: tensor 'b' [4,12) overlaps tensor 'a'");
  expect_load_error(dir,
                    safetensors_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                                      R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                                      raw<float>({1, 2, 3})),
                    "gap in the data: tensor 'b' begins at 8");
  expect_load_error(dir, safetensors_bytes(R"({"__metadata__":{"epoch":3}})", ""),
                    "__metadata__ value for 'epoch' must be a string");

  const std::string missing = dir.file("missing.safetensors");
  EXPECT_NE(error_of([&] { load_safetensors(missing); }).find(missing + ": no such file"), std::string::npos);
}

TEST(Safetensors, SaveRejectsBadNames) {
  TempDir dir;
  const std::string path = dir.file("x.safetensors");
  EXPECT_NE(error_of([&] { save_safetensors(path, {{"a", ones({1})}, {"a", ones({2})}}); })
                .find("tensor name 'a' appears twice"),
            std::string::npos);
  EXPECT_NE(error_of([&] { save_safetensors(path, {{"", ones({1})}}); }).find("empty name"), std::string::npos);
  EXPECT_NE(error_of([&] { save_safetensors(path, {{"__metadata__", ones({1})}}); }).find("reserved"),
            std::string::npos);
  EXPECT_NE(error_of([&] { save_safetensors(path, {{"u", Tensor()}}); }).find("'u' is undefined"),
            std::string::npos);
  EXPECT_TRUE(dir.entries().empty());  // nothing written, no temporary left
}

TEST(Safetensors, AtomicWriteReplacesAndLeavesNoTemporary) {
  TempDir dir;
  const std::string path = dir.file("ckpt.safetensors");
  save_safetensors(path, {{"x", ones({3})}});
  save_safetensors(path, {{"x", full({2}, 5.0)}});  // replaces the old file
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"ckpt.safetensors"}));
  EXPECT_EQ(load_safetensors(path).at("x").to_vector<float>(), (std::vector<float>{5, 5}));

  // A write abandoned midway (an exception before commit) leaves the old file.
  const std::string before = read_bytes(path);
  {
    AtomicFile file(path);
    file.write("garbage", 7);
    EXPECT_TRUE(std::filesystem::exists(file.temp_path()));
    EXPECT_NE(file.temp_path().find(path + ".tmp."), std::string::npos);
  }
  EXPECT_EQ(read_bytes(path), before);
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"ckpt.safetensors"}));

  // A rename that fails (the target is a non-empty folder) reports the path and cleans up.
  const std::string folder = dir.file("taken");
  std::filesystem::create_directories(folder + "/inside");
  const std::string message = error_of([&] { save_safetensors(folder, {{"x", ones({1})}}); });
  EXPECT_NE(message.find("renaming"), std::string::npos) << message;
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"ckpt.safetensors", "taken"}));

  // A folder that does not exist: a clear error, nothing created.
  const std::string nowhere = dir.file("no/such/dir/x.safetensors");
  EXPECT_NE(error_of([&] { save_safetensors(nowhere, {{"x", ones({1})}}); }).find("cannot open temporary file"),
            std::string::npos);
}

TEST(Safetensors, CheckTensorSetReportsEveryProblemAtOnce) {
  const NamedTensors loaded = {{"a", zeros({2, 3})}, {"b", zeros({4})}, {"extra", zeros({1})},
                               {"d", zeros({2}, TensorOptions{}.with_dtype(DType::f64))}};
  const std::vector<TensorSpec> expected = {
      {"a", {2, 3}, DType::f32}, {"b", {5}, DType::f32}, {"c", {1}, DType::f32}, {"d", {2}, DType::f32}};

  const TensorSetDiff diff = diff_tensor_set(loaded, expected);
  EXPECT_EQ(diff.missing, (std::vector<std::string>{"c"}));
  EXPECT_EQ(diff.unexpected, (std::vector<std::string>{"extra"}));
  ASSERT_EQ(diff.mismatched.size(), 2u);
  EXPECT_EQ(diff.mismatched[0], "b: found [4] float32, expected [5] float32");
  EXPECT_EQ(diff.mismatched[1], "d: found [2] float64, expected [2] float32");

  const std::string message = error_of([&] { check_tensor_set(loaded, expected, "load_state_dict(ckpt)"); });
  EXPECT_EQ(message.rfind("load_state_dict(ckpt): 1 missing, 1 unexpected, 2 mismatched", 0), 0u) << message;
  for (const char* part :
       {"missing: c", "unexpected: extra", "mismatched: b: found [4]", "mismatched: d: found [2] float64"})
    EXPECT_NE(message.find(part), std::string::npos) << part << " not in " << message;

  // strict=False: missing and unexpected are fine, mismatches still are not.
  const std::string relaxed = error_of([&] { check_tensor_set(loaded, expected, "m", true, true); });
  EXPECT_EQ(relaxed.find("missing: c"), std::string::npos);
  EXPECT_NE(relaxed.find("mismatched: b"), std::string::npos);

  const std::vector<TensorSpec> exact = {{"a", {2, 3}, DType::f32}};
  EXPECT_TRUE(diff_tensor_set({{"a", zeros({2, 3})}}, exact).ok());
  EXPECT_EQ(diff_tensor_set({{"a", zeros({2, 3})}}, exact).message(), "");
  EXPECT_NO_THROW(check_tensor_set({{"a", zeros({2, 3})}}, exact, "m"));
}
