#include "engine/data/cifar10.h"

#include <filesystem>

#include "engine/data/file_bytes.h"
#include "engine/error.h"

namespace ng {

namespace {

constexpr int64_t kSide = 32, kImageBytes = 3 * kSide * kSide, kRecordBytes = 1 + kImageBytes;

const std::vector<std::string>& cifar10_class_names() {
  static const std::vector<std::string> names = {"airplane", "automobile", "bird",  "cat",  "deer",
                                                 "dog",      "frog",       "horse", "ship", "truck"};
  return names;
}

}  // namespace

Dataset read_cifar10_batches(const std::vector<std::string>& paths, const std::string& name) {
  std::vector<std::vector<uint8_t>> files;
  int64_t total = 0;
  for (const std::string& path : paths) {
    // A batch of the data set holds 10000 records; a gzip file is not
    // decompressed far beyond what five of them would be.
    files.push_back(read_file_bytes(path, uint64_t(50000) * kRecordBytes));
    const int64_t size = int64_t(files.back().size());
    NG_CHECK(size > 0 && size % kRecordBytes == 0, path, ": truncated or not a CIFAR-10 batch: ", size,
             " bytes is not a whole number of ", kRecordBytes, "-byte records (1 label + 3x32x32 pixels)");
    total += size / kRecordBytes;
  }

  Dataset d;
  d.name = name;
  d.num_classes = 10;
  d.class_names = cifar10_class_names();
  d.images = empty({total, 3, kSide, kSide});
  d.labels.reserve(size_t(total));
  float* out = d.images.data<float>();
  for (size_t f = 0; f < files.size(); ++f) {
    const std::vector<uint8_t>& bytes = files[f];
    for (size_t r = 0; r < bytes.size() / kRecordBytes; ++r) {
      const uint8_t* record = bytes.data() + r * kRecordBytes;
      NG_CHECK(record[0] < 10, paths[f], ": record ", r, " has label ", int(record[0]),
               ", expected 0..9: not a CIFAR-10 batch (CIFAR-100 records have 2 label bytes)");
      d.labels.push_back(record[0]);
      for (int64_t i = 0; i < kImageBytes; ++i) *out++ = float(record[1 + i]) / 255.0f;
    }
  }
  return d;
}

Dataset load_cifar10(const std::string& dir, const std::string& split) {
  NG_CHECK(split == "train" || split == "test", "cifar10: split must be 'train' or 'test', got '", split, "'");
  namespace fs = std::filesystem;
  fs::path root = dir;
  if (!fs::exists(root / "test_batch.bin") && fs::exists(root / "cifar-10-batches-bin" / "test_batch.bin"))
    root /= "cifar-10-batches-bin";
  std::vector<std::string> paths;
  if (split == "train")
    for (int i = 1; i <= 5; ++i) paths.push_back((root / ("data_batch_" + std::to_string(i) + ".bin")).string());
  else
    paths.push_back((root / "test_batch.bin").string());
  for (const std::string& p : paths)
    NG_CHECK(fs::exists(p), "cifar10: cannot find ", p, " (expected the binary version's batch files in ", dir, ")");
  return read_cifar10_batches(paths, "cifar10/" + split);
}

}  // namespace ng
