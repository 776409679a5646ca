// TensorBoard event files (tools/tensorboard.h): CRC32C against published
// vectors, files read back through their own record framing and checksums,
// damaged and cut files refused with the file and the record's offset, and a
// real training's events equal to its metrics.csv and its sample grids.
// (The tensorboard Python package is not installed where these were written,
// so no test reads the files with its EventFileLoader.)
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/io/image.h"
#include "engine/nanogen.h"
#include "support/runs.h"
#include "support/temp_dir.h"
#include "tools/run_folder.h"
#include "tools/tensorboard.h"
#include "tools/train_common.h"
#include "tools/train_vae.h"
#include "support/gradcheck.h"

using namespace ng;
using test::error_of;
using tools::read_tensorboard_events;
using tools::TensorBoardEvent;
using tools::TensorBoardWriter;
using test::read_bytes;
using test::TempDir;
using test::write_bytes;

namespace {

uint32_t crc_of(const std::string& bytes) { return tools::crc32c(bytes.data(), bytes.size()); }

// The event files in a folder, oldest first (the order TensorBoard reads them).
std::vector<std::string> event_files(const std::string& folder) {
  std::vector<std::string> files;
  if (!std::filesystem::exists(folder)) return files;
  for (const auto& e : std::filesystem::directory_iterator(folder)) files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

// The events of every file in a folder but each file's version event.
std::vector<TensorBoardEvent> summary_events(const std::string& folder) {
  std::vector<TensorBoardEvent> all;
  for (const std::string& file : event_files(folder))
    for (TensorBoardEvent& e : read_tensorboard_events(file))
      if (e.file_version.empty()) all.push_back(std::move(e));
  return all;
}

double seconds_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Pixels as an 8-bit PNG stores them: each value rounded to a level / 255.
std::vector<float> quantized(const Tensor& image) {
  std::vector<float> v = image.to_vector<float>();
  for (float& x : v) x = float(std::lround(std::clamp(x, 0.0f, 1.0f) * 255.0f)) / 255.0f;
  return v;
}

// PNG bytes decoded by the image loader (it reads files).
Tensor decode(const std::vector<uint8_t>& png, const TempDir& dir) {
  const std::string path = dir.file("decoded.png");
  write_bytes(path, std::string(png.begin(), png.end()));
  return load_image(path);
}

// The uint64 LE length at the start of the record at `offset`: the next
// record starts 8 + 4 + length + 4 bytes later.
size_t next_record(const std::string& file, size_t offset) {
  uint64_t length = 0;
  for (int i = 0; i < 8; ++i) length |= uint64_t(uint8_t(file[offset + size_t(i)])) << (8 * i);
  return offset + 16 + size_t(length);
}

// An events file with its version event, a scalar event and an image event.
std::string write_sample_file(const TempDir& dir) {
  TensorBoardWriter writer(dir.file("tb"));
  writer.add_scalar("train/loss", 0.25, 7);
  writer.add_image("samples/epoch", full({1, 2, 3}, 0.5), 7);
  return writer.path();
}

}  // namespace

TEST(TensorBoardCrc32c, PublishedCheckValues) {
  EXPECT_EQ(crc_of("123456789"), 0xE3069283u);  // the CRC catalogue's check value
  // RFC 3720 (iSCSI), appendix B.4.
  EXPECT_EQ(crc_of(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(crc_of(std::string(32, '\xFF')), 0x62A8AB43u);
  std::string ascending;
  for (int i = 0; i < 32; ++i) ascending.push_back(char(i));
  EXPECT_EQ(crc_of(ascending), 0x46DD794Eu);
  EXPECT_EQ(crc_of(""), 0u);
}

TEST(TensorBoardCrc32c, TheMaskRotatesBy15AndAddsTheConstant) {
  const std::string check = "123456789";
  const uint32_t crc = 0xE3069283u;
  const uint32_t masked = ((crc >> 15) | (crc << 17)) + 0xA282EAD8u;
  EXPECT_EQ(masked, 0xC78AB0E5u);  // the rotation 0x2507C60D plus 0xA282EAD8
  EXPECT_EQ(tools::masked_crc32c(check.data(), check.size()), masked);
}

TEST(TensorBoardFile, ScalarsAndImagesReadBackExactly) {
  TempDir dir;
  const double before = seconds_now();
  Generator gen(3);
  const Tensor rgb = rand({3, 5, 7}, gen);
  const std::vector<uint8_t> gray_png = encode_png(rand({1, 4, 6}, gen));
  std::string path;
  {
    TensorBoardWriter writer(dir.file("tb"));
    path = writer.path();
    writer.add_scalar("train/loss", 0.1, 5);  // 0.1 is not a float: it arrives as float(0.1)
    writer.add_scalars({{"epoch/test_loss", 123.456789}, {"epoch/time_s", -2.5e-9}}, 10);
    writer.add_image("samples/epoch", rgb, 10);
    writer.add_image("samples/recon", gray_png, 20);
    writer.add_scalar("train/loss", 1e30, -3);  // a negative step takes a 10-byte varint
  }

  // The name TensorBoard looks for: events.out.tfevents.<unix seconds>.<host>.
  const std::string name = std::filesystem::path(path).filename().string();
  ASSERT_EQ(name.rfind("events.out.tfevents.", 0), 0u) << name;
  const std::string rest = name.substr(20);
  const double stamp = std::stod(rest.substr(0, rest.find('.')));
  EXPECT_GE(stamp, std::floor(before));
  EXPECT_LE(stamp, seconds_now());
  EXPECT_GT(rest.size(), rest.find('.') + 1) << "a host name follows the time";

  const std::vector<TensorBoardEvent> events = read_tensorboard_events(path);
  ASSERT_EQ(events.size(), 6u);
  EXPECT_EQ(events[0].file_version, "brain.Event:2");
  EXPECT_TRUE(events[0].scalars.empty() && events[0].images.empty());
  for (const TensorBoardEvent& e : events) {
    EXPECT_GE(e.wall_time, before - 1e-3);
    EXPECT_LE(e.wall_time, seconds_now());
  }

  ASSERT_EQ(events[1].scalars.size(), 1u);
  EXPECT_EQ(events[1].step, 5);
  EXPECT_EQ(events[1].scalars[0].tag, "train/loss");
  EXPECT_EQ(events[1].scalars[0].value, 0.1f);

  ASSERT_EQ(events[2].scalars.size(), 2u);  // one event for the two
  EXPECT_EQ(events[2].step, 10);
  EXPECT_EQ(events[2].scalars[0].tag, "epoch/test_loss");
  EXPECT_EQ(events[2].scalars[0].value, 123.456789f);
  EXPECT_EQ(events[2].scalars[1].tag, "epoch/time_s");
  EXPECT_EQ(events[2].scalars[1].value, -2.5e-9f);

  ASSERT_EQ(events[3].images.size(), 1u);
  const tools::TensorBoardImage& colour = events[3].images[0];
  EXPECT_EQ(events[3].step, 10);
  EXPECT_EQ(colour.tag, "samples/epoch");
  EXPECT_EQ(colour.height, 5);
  EXPECT_EQ(colour.width, 7);
  EXPECT_EQ(colour.colorspace, 3);
  EXPECT_EQ(colour.png, encode_png(rgb));
  const Tensor decoded = decode(colour.png, dir);
  EXPECT_EQ(decoded.shape(), (Shape{3, 5, 7}));
  EXPECT_EQ(decoded.to_vector<float>(), quantized(rgb));

  ASSERT_EQ(events[4].images.size(), 1u);
  EXPECT_EQ(events[4].step, 20);
  EXPECT_EQ(events[4].images[0].tag, "samples/recon");
  EXPECT_EQ(events[4].images[0].height, 4);
  EXPECT_EQ(events[4].images[0].width, 6);
  EXPECT_EQ(events[4].images[0].colorspace, 1);
  EXPECT_EQ(events[4].images[0].png, gray_png);

  EXPECT_EQ(events[5].step, -3);
  ASSERT_EQ(events[5].scalars.size(), 1u);
  EXPECT_EQ(events[5].scalars[0].value, 1e30f);
}

TEST(TensorBoardFile, EveryWriterStartsItsOwnFile) {
  TempDir dir;
  // Two writers within the same second would share a name: the second adds ".1".
  TensorBoardWriter first(dir.file("tb"));
  TensorBoardWriter second(dir.file("tb"));
  first.add_scalar("a", 1, 1);
  second.add_scalar("b", 2, 2);
  ASSERT_NE(first.path(), second.path());
  const std::vector<TensorBoardEvent> a = read_tensorboard_events(first.path());
  const std::vector<TensorBoardEvent> b = read_tensorboard_events(second.path());
  ASSERT_EQ(a.size(), 2u);
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(a[1].scalars[0].tag, "a");
  EXPECT_EQ(b[1].scalars[0].tag, "b");
  EXPECT_EQ(b[0].file_version, "brain.Event:2");
}

TEST(TensorBoardFile, ADamagedByteInARecordsDataIsNamedWithItsOffset) {
  TempDir dir;
  const std::string path = write_sample_file(dir);
  const std::string good = read_bytes(path);
  ASSERT_EQ(read_tensorboard_events(path).size(), 3u);
  const size_t second = next_record(good, 0), third = next_record(good, second);

  std::string bad = good;
  bad[second + 12 + 3] ^= 0x01;  // one bit of the scalar event's data
  write_bytes(path, bad);
  const std::string message = error_of([&] { read_tensorboard_events(path); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("record at byte " + std::to_string(second) + " has a bad data CRC"), std::string::npos)
      << message;

  bad = good;
  bad[third + 2] ^= 0x40;  // the image event's length
  write_bytes(path, bad);
  EXPECT_NE(error_of([&] { read_tensorboard_events(path); })
                .find("record at byte " + std::to_string(third) + " has a bad length CRC"),
            std::string::npos);

  bad = good;
  bad[good.size() - 1] ^= 0x80;  // the last data CRC itself
  write_bytes(path, bad);
  EXPECT_NE(error_of([&] { read_tensorboard_events(path); }).find("has a bad data CRC"), std::string::npos);
}

TEST(TensorBoardFile, ACutFileIsNamedWithTheOffsetOfItsCutRecord) {
  TempDir dir;
  const std::string path = write_sample_file(dir);
  const std::string good = read_bytes(path);
  const size_t second = next_record(good, 0), third = next_record(good, second);
  ASSERT_EQ(next_record(good, third), good.size());

  write_bytes(path, good.substr(0, good.size() - 3));  // inside the last CRC
  std::string message = error_of([&] { read_tensorboard_events(path); });
  EXPECT_NE(message.find(path + ": the record at byte " + std::to_string(third) + " is cut short"),
            std::string::npos)
      << message;

  write_bytes(path, good.substr(0, third + 5));  // inside the last header
  message = error_of([&] { read_tensorboard_events(path); });
  EXPECT_NE(message.find("record at byte " + std::to_string(third) + " is cut short: 5 bytes"), std::string::npos)
      << message;

  // Cut at a record's end, the file holds whole records: they read.
  write_bytes(path, good.substr(0, third));
  EXPECT_EQ(read_tensorboard_events(path).size(), 2u);
}

TEST(TensorBoardFile, DataThatIsNotAnEventIsRefused) {
  TempDir dir;
  const std::string path = write_sample_file(dir);
  std::string file = read_bytes(path);
  // A record whose framing is right but whose data is a field of wire type 3
  // (a protobuf group, which an Event never holds).
  const std::string data = "\x0B";
  std::string record(8, '\0');
  record[0] = char(data.size());
  auto append_crc = [&](const std::string& bytes) {
    const uint32_t crc = tools::masked_crc32c(bytes.data(), bytes.size());
    for (int i = 0; i < 4; ++i) record.push_back(char((crc >> (8 * i)) & 0xFF));
  };
  append_crc(record.substr(0, 8));
  record += data;
  append_crc(data);
  write_bytes(path, file + record);
  const std::string message = error_of([&] { read_tensorboard_events(path); });
  EXPECT_NE(message.find("record at byte " + std::to_string(file.size()) + " holds no readable Event"),
            std::string::npos)
      << message;
}

// The run folder's mapping: a row's columns become "<kind>/<column>"
// ("train/" for step rows) at the row's step; the sample grids their images.
// TensorBoard's own reader, where the tensorboard Python package is
// installed (Debian does not package it: `pip install tensorboard`).
TEST(TensorBoardFile, TheTensorBoardPackageReadsTheFile) {
  TempDir dir;
  {
    TensorBoardWriter writer(dir.file("tb"));
    writer.add_scalar("train/loss", 0.25, 7);
    writer.add_scalar("train/loss", -1.5, 9);
    writer.add_image("samples/epoch", full({3, 4, 5}, 0.5), 9);
  }
  const std::string out = dir.file("read.json");
  const std::string command =
      "python3 tests/support/read_tensorboard.py '" + dir.file("tb") + "' > '" + out + "' 2>/dev/null";
  const int status = std::system(command.c_str());
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 77) GTEST_SKIP() << "the tensorboard Python package is not installed";
  ASSERT_EQ(WEXITSTATUS(status), 0) << command;
  std::ifstream in(out);
  const nlohmann::json read = nlohmann::json::parse(in);
  EXPECT_EQ(read.at("scalars").at("train/loss"), nlohmann::json::parse("[[7, 0.25], [9, -1.5]]"));
  EXPECT_EQ(read.at("images").at("samples/epoch"), nlohmann::json::parse("[[9, 5, 4]]"));
}

TEST(TensorBoardRunFolder, RowsBecomeScalarsAndGridsImages) {
  TempDir dir;
  const std::string run = dir.file("run");
  Generator gen(5);
  const Tensor images = rand({3, 1, 4, 4}, gen);
  {
    tools::RunFolder folder(run, false);
    folder.declare_metrics({"epoch", "step", "loss", "test_loss"});
    EXPECT_TRUE(event_files(run + "/tensorboard").empty()) << "no file before the first row";
    folder.metrics({{"epoch", 1}, {"step", 50}, {"loss", 0.75}}, "step");
    folder.metrics({{"epoch", 1}, {"step", 100}, {"loss", 0.5}, {"test_loss", 0.625}}, "epoch");
    folder.metrics({{"epoch", 2}, {"loss", 9}}, "step");  // no step: metrics.csv only
    folder.save_sample_grid("epoch", 1, 100, images, 2);
  }
  ASSERT_EQ(event_files(run + "/tensorboard").size(), 1u);
  const std::vector<TensorBoardEvent> events = summary_events(run + "/tensorboard");
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].step, 50);
  ASSERT_EQ(events[0].scalars.size(), 1u);
  EXPECT_EQ(events[0].scalars[0].tag, "train/loss");
  EXPECT_EQ(events[0].scalars[0].value, 0.75f);
  EXPECT_EQ(events[1].step, 100);
  ASSERT_EQ(events[1].scalars.size(), 2u);
  EXPECT_EQ(events[1].scalars[0].tag, "epoch/loss");
  EXPECT_EQ(events[1].scalars[0].value, 0.5f);
  EXPECT_EQ(events[1].scalars[1].tag, "epoch/test_loss");
  EXPECT_EQ(events[1].scalars[1].value, 0.625f);
  EXPECT_EQ(events[2].step, 100);
  ASSERT_EQ(events[2].images.size(), 1u);
  EXPECT_EQ(events[2].images[0].tag, "samples/epoch");
  // The very bytes of samples/epoch_001.png, which is save_image_grid's file.
  const std::string png_file = read_bytes(run + "/samples/epoch_001.png");
  EXPECT_EQ(std::string(events[2].images[0].png.begin(), events[2].images[0].png.end()), png_file);
  save_image_grid(dir.file("reference.png"), images, 2);
  EXPECT_EQ(png_file, read_bytes(dir.file("reference.png")));

  // A resumed session adds a file; a new run into the folder starts over.
  {
    tools::RunFolder folder(run, true);
    folder.declare_metrics({"epoch", "step", "loss", "test_loss"});
    folder.metrics({{"epoch", 2}, {"step", 150}, {"loss", 0.25}}, "step");
  }
  EXPECT_EQ(event_files(run + "/tensorboard").size(), 2u);
  EXPECT_EQ(summary_events(run + "/tensorboard").size(), 4u);
  { tools::RunFolder folder(run, false); }
  EXPECT_TRUE(event_files(run + "/tensorboard").empty());
}

namespace {

// metrics.csv as rows of column -> text (blank fields left out).
std::vector<std::map<std::string, std::string>> read_metrics(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  std::vector<std::string> header;
  std::stringstream hs(line);
  for (std::string col; std::getline(hs, col, ',');) header.push_back(col);
  std::vector<std::map<std::string, std::string>> rows;
  while (std::getline(in, line)) {
    std::map<std::string, std::string> row;
    std::stringstream ls(line);
    std::string field;
    for (size_t i = 0; i < header.size() && std::getline(ls, field, ','); ++i)
      if (!field.empty()) row[header[i]] = field;
    rows.push_back(row);
  }
  return rows;
}

tools::CommonOptions tiny_vae_run(const std::string& out) {
  tools::CommonOptions o;
  o.out = out;
  o.device = "cpu";
  o.epochs = 1;
  o.batch_size = 32;
  o.limit = 256;  // 8 steps an epoch
  o.test_limit = 64;
  o.log_every = 4;
  o.lr = 2e-3;
  return o;
}

}  // namespace

// A VAE stopped at step 5 and resumed to the end of its epoch (step 8): the
// two sessions' event files hold, in order, an event for each row of
// metrics.csv with the same numbers, and the sample grids of step 5 (the
// stop) and step 8 (the epoch's end), byte for byte the PNG files.
TEST(TensorBoardTraining, EventsEqualMetricsCsvAndHoldTheSampleGrids) {
  if (!test::have_fashion_mnist()) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  const std::string run = test::temp_run("tensorboard_vae");
  tools::CommonOptions first = tiny_vae_run(run);
  first.max_steps = 5;
  ASSERT_EQ(tools::train_vae(first, {}).steps, 5);
  const std::vector<uint8_t> stop_grid = [&] {
    const std::string bytes = read_bytes(run + "/samples/epoch_001.png");
    return std::vector<uint8_t>(bytes.begin(), bytes.end());
  }();
  tools::CommonOptions rest = tiny_vae_run(run);
  rest.resume = true;
  ASSERT_EQ(tools::train_vae(rest, {}).steps, 8);
  ASSERT_EQ(event_files(run + "/tensorboard").size(), 2u) << "one file a session";

  // Rows: step 4, the stop at 5, step 8, the epoch at 8.
  const auto rows = read_metrics(run + "/metrics.csv");
  std::vector<TensorBoardEvent> scalar_events, image_events;
  for (TensorBoardEvent& e : summary_events(run + "/tensorboard"))
    (e.images.empty() ? scalar_events : image_events).push_back(std::move(e));
  ASSERT_EQ(rows.size(), 4u);
  ASSERT_EQ(scalar_events.size(), rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& row = rows[i];
    const TensorBoardEvent& event = scalar_events[i];
    const std::string kind = row.at("kind");
    const std::string prefix = kind == "step" ? "train/" : kind + "/";
    EXPECT_EQ(event.step, std::stoll(row.at("step"))) << "row " << i;
    std::map<std::string, float> written;
    for (const auto& s : event.scalars) written[s.tag] = s.value;
    size_t columns = 0;
    for (const auto& [column, text] : row) {
      if (column == "kind" || column == "epoch" || column == "step") continue;
      ++columns;
      ASSERT_TRUE(written.count(prefix + column)) << "row " << i << " has no " << prefix + column;
      // metrics.csv keeps 7 significant digits, the event a float: both
      // round the same double, by at most half a unit in the 7th digit and
      // half a float's 24-bit unit.
      const double csv = std::stod(text), tb = written.at(prefix + column);
      const double seventh_digit = csv == 0 ? 0 : std::pow(10.0, std::floor(std::log10(std::fabs(csv))) - 6);
      EXPECT_NEAR(tb, csv, 0.5 * seventh_digit + std::ldexp(std::fabs(csv), -24)) << prefix + column << " at row " << i;
    }
    EXPECT_EQ(written.size(), columns) << "row " << i << ": the event holds a value the row lacks";
  }
  EXPECT_EQ(rows[1].at("kind"), "stop");
  EXPECT_EQ(rows[3].at("kind"), "epoch");
  EXPECT_TRUE(rows[3].count("test_loss"));

  // The grids: "epoch", "recon" and "interpolation" at the stop (5) and at
  // the epoch's end (8).
  ASSERT_EQ(image_events.size(), 6u);
  std::map<std::pair<std::string, int64_t>, std::vector<uint8_t>> grids;
  for (const TensorBoardEvent& e : image_events) grids[{e.images.at(0).tag, e.step}] = e.images.at(0).png;
  ASSERT_EQ(grids.size(), 6u);
  for (const auto& key : {std::pair<std::string, int64_t>{"samples/epoch", 5}, {"samples/recon", 5},
                          {"samples/interpolation", 5}, {"samples/epoch", 8}, {"samples/recon", 8},
                          {"samples/interpolation", 8}})
    EXPECT_TRUE(grids.count(key)) << key.first << " at step " << key.second;
  const std::vector<uint8_t>& at_stop = grids[{"samples/epoch", 5}];
  const std::vector<uint8_t>& at_end = grids[{"samples/epoch", 8}];
  EXPECT_EQ(at_stop, stop_grid);
  EXPECT_EQ(std::string(at_end.begin(), at_end.end()), read_bytes(run + "/samples/epoch_001.png"));
  EXPECT_NE(at_stop, at_end) << "three more steps change the samples";
  const std::vector<uint8_t>& recon_at_end = grids[{"samples/recon", 8}];
  EXPECT_EQ(std::string(recon_at_end.begin(), recon_at_end.end()), read_bytes(run + "/samples/recon_001.png"));
  const tools::TensorBoardImage* recon_image = nullptr;
  for (const TensorBoardEvent& e : image_events)
    if (e.images.at(0).tag == "samples/recon" && e.step == 8) recon_image = &e.images.at(0);
  ASSERT_NE(recon_image, nullptr);
  const tools::TensorBoardImage& image = *recon_image;
  const Tensor decoded = load_image(run + "/samples/recon_001.png");
  EXPECT_EQ(image.colorspace, decoded.size(0));
  EXPECT_EQ(image.height, decoded.size(1));
  EXPECT_EQ(image.width, decoded.size(2));
  std::filesystem::remove_all(run);
}
