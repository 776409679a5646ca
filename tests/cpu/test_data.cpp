// Data set readers (IDX raw and gzip, CIFAR-10 batches, image folders), the
// named data sets, and the DataLoader's batches, shuffling and prefetching.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdlib>
#include <filesystem>
#include <set>

#include "engine/data/cifar10.h"
#include "engine/data/datasets.h"
#include "engine/data/idx.h"
#include "engine/data/image_folder.h"
#include "engine/data/loader.h"
#include "engine/io/image.h"
#include "engine/nanogen.h"
#include "support/temp_dir.h"
#include "support/gradcheck.h"

using namespace ng;
using test::error_of;
using ng::test::read_bytes;
using ng::test::TempDir;
using ng::test::write_bytes;
namespace fs = std::filesystem;

namespace {

#define EXPECT_ERROR(statement, text)                                                        \
  do {                                                                                       \
    const std::string message_ = error_of([&] { statement; });                               \
    EXPECT_NE(message_.find(text), std::string::npos) << "expected '" << (text) << "' in: " \
                                                      << message_;                           \
  } while (0)

std::string be32(uint32_t v) {
  return {char(v >> 24), char(v >> 16 & 0xff), char(v >> 8 & 0xff), char(v & 0xff)};
}

// Pixel i of an IDX test file: a pattern that uses the whole byte range.
uint8_t pixel(size_t i) { return uint8_t((i * 37 + 11) % 256); }

std::string idx_images(uint32_t n, uint32_t rows, uint32_t cols) {
  std::string out = be32(0x803) + be32(n) + be32(rows) + be32(cols);
  for (size_t i = 0; i < size_t(n) * rows * cols; ++i) out += char(pixel(i));
  return out;
}

std::string idx_labels(const std::vector<int>& labels) {
  std::string out = be32(0x801) + be32(uint32_t(labels.size()));
  for (int l : labels) out += char(l);
  return out;
}

void write_gzip(const std::string& path, const std::string& bytes) {
  fs::create_directories(fs::path(path).parent_path());
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), unsigned(bytes.size())), int(bytes.size()));
  ASSERT_EQ(gzclose(f), Z_OK);
}

// A tiny MNIST-format split: n images of 3x2, labels i % 10.
void write_mnist_split(const std::string& dir, const std::string& prefix, uint32_t n, bool gz) {
  std::vector<int> labels;
  for (uint32_t i = 0; i < n; ++i) labels.push_back(int(i % 10));
  const std::string images = dir + "/" + prefix + "-images-idx3-ubyte", lab = dir + "/" + prefix + "-labels-idx1-ubyte";
  if (gz) {
    write_gzip(images + ".gz", idx_images(n, 3, 2));
    write_gzip(lab + ".gz", idx_labels(labels));
  } else {
    write_bytes(images, idx_images(n, 3, 2));
    write_bytes(lab, idx_labels(labels));
  }
}

void expect_idx_pixels(const Tensor& images, uint32_t n, uint32_t rows, uint32_t cols) {
  ASSERT_EQ(images.shape(), (Shape{n, 1, rows, cols}));
  ASSERT_EQ(images.dtype(), DType::f32);
  const std::vector<float> v = images.to_vector<float>();
  for (size_t i = 0; i < v.size(); ++i) ASSERT_EQ(v[i], float(pixel(i)) / 255.0f) << "pixel " << i;
}

}  // namespace

// ---- IDX ----------------------------------------------------------------------

TEST(Idx, RawAndGzipReadBackExactly) {
  TempDir dir;
  write_bytes(dir.file("img"), idx_images(3, 2, 4));
  write_gzip(dir.file("img.gz"), idx_images(3, 2, 4));
  expect_idx_pixels(read_idx_images(dir.file("img")), 3, 2, 4);
  expect_idx_pixels(read_idx_images(dir.file("img.gz")), 3, 2, 4);

  const std::vector<int> labels = {0, 9, 3, 255, 7};
  write_bytes(dir.file("lab"), idx_labels(labels));
  write_gzip(dir.file("lab.gz"), idx_labels(labels));
  EXPECT_EQ(read_idx_labels(dir.file("lab")), labels);
  EXPECT_EQ(read_idx_labels(dir.file("lab.gz")), labels);
  EXPECT_TRUE(read_idx_labels((write_bytes(dir.file("none"), idx_labels({})), dir.file("none"))).empty());
}

TEST(Idx, BadFilesGiveClearErrors) {
  TempDir dir;
  const std::string labels = dir.file("labels"), images = dir.file("images");
  write_bytes(labels, idx_labels({1, 2}));
  EXPECT_ERROR(read_idx_images(labels),
               labels + ": bad magic number 0x00000801 (that of an IDX label file), expected 0x00000803");
  write_bytes(images, idx_images(1, 2, 2));
  EXPECT_ERROR(read_idx_labels(images), "bad magic number 0x00000803 (that of an IDX image file), expected 0x00000801");
  write_bytes(images, be32(0x12345678) + be32(1) + be32(1) + be32(1) + "x");
  EXPECT_ERROR(read_idx_images(images), "bad magic number 0x12345678, expected 0x00000803");

  write_bytes(images, idx_images(3, 2, 4).substr(0, 16 + 20));
  EXPECT_ERROR(read_idx_images(images), images + ": truncated: header says 3 images of 2x4 (40 bytes with the header) "
                                                "but the file can hold at most 36 bytes");
  write_gzip(images + ".gz", idx_images(3, 2, 4).substr(0, 16 + 20));
  EXPECT_ERROR(read_idx_images(images + ".gz"), "truncated: header says 3 images of 2x4 but the file holds 20 bytes");
  write_bytes(images, idx_images(3, 2, 4) + "xyz");
  EXPECT_ERROR(read_idx_images(images), "3 bytes too many");
  write_bytes(images, idx_images(3, 2, 4).substr(0, 10));
  EXPECT_ERROR(read_idx_images(images), "truncated: 10 bytes, too short for the 16-byte IDX images header");
  write_bytes(images, be32(0x803) + be32(2) + be32(0) + be32(28));
  EXPECT_ERROR(read_idx_images(images), "header says images of 0x28");
  write_bytes(images, be32(0x803) + be32(0xffffffff) + be32(0xffffffff) + be32(0xffffffff) + "xy");
  EXPECT_ERROR(read_idx_images(images), "truncated: header says 4294967295 images of 4294967295x4294967295");
  write_bytes(labels, idx_labels({1, 2, 3}).substr(0, 9));
  EXPECT_ERROR(read_idx_labels(labels), "truncated: header says 3 labels (11 bytes with the header) but the file can hold at most 9");

  // A gzip stream cut in half.
  write_gzip(dir.file("cut.gz"), idx_images(50, 28, 28));
  const std::string gz = read_bytes(dir.file("cut.gz"));
  write_bytes(dir.file("cut.gz"), gz.substr(0, gz.size() / 2));
  EXPECT_ERROR(read_idx_images(dir.file("cut.gz")), dir.file("cut.gz") + ": corrupt or truncated gzip data");

  // Sizes a header declares are checked before anything is decompressed or
  // allocated: 2^31 images in a gzip file of a few dozen bytes cannot be, even
  // at deflate's largest ratio (1032:1); and a gzip file that expands to far
  // more than its header declares is not read to its end.
  write_gzip(dir.file("huge.gz"), be32(0x803) + be32(1u << 31) + be32(28) + be32(28));
  EXPECT_ERROR(read_idx_images(dir.file("huge.gz")),
               "truncated: header says 2147483648 images of 28x28 (1683627180048 bytes with the header) but the "
               "file can hold at most");
  write_gzip(dir.file("bomb.gz"), idx_labels({1, 2}) + std::string(size_t(64) << 20, '\0'));
  EXPECT_ERROR(read_idx_labels(dir.file("bomb.gz")), "holds more than 1048586 bytes, more than its format allows");

  EXPECT_ERROR(read_idx_images(dir.file("missing")), dir.file("missing") + ": no such file");
  EXPECT_ERROR(read_idx_images(dir.path().string()), "not a regular file");
}

// ---- named data sets ----------------------------------------------------------------

TEST(Datasets, MnistFolderSplitsRawOrGzip) {
  TempDir dir;
  write_mnist_split(dir.file("m"), "train", 12, /*gz=*/true);
  write_mnist_split(dir.file("m"), "t10k", 5, /*gz=*/false);
  const Dataset train = load_dataset("mnist:" + dir.file("m"), "train");
  EXPECT_EQ(train.name, "mnist/train");
  EXPECT_EQ(train.num_classes, 10);
  EXPECT_EQ(train.class_names.size(), 10u);
  expect_idx_pixels(train.images, 12, 3, 2);
  EXPECT_EQ(train.labels[11], 1);
  const Dataset test = load_dataset("mnist:" + dir.file("m"), "test");
  EXPECT_EQ(test.size(), 5);
  EXPECT_EQ(test.labels, (std::vector<int>{0, 1, 2, 3, 4}));

  // The spelling with a dot some mirrors use.
  fs::create_directories(dir.file("dotted"));
  write_bytes(dir.file("dotted/t10k-images.idx3-ubyte"), idx_images(2, 3, 2));
  write_bytes(dir.file("dotted/t10k-labels.idx1-ubyte"), idx_labels({4, 5}));
  EXPECT_EQ(load_dataset("mnist:" + dir.file("dotted"), "test").labels, (std::vector<int>{4, 5}));
}

TEST(Datasets, InconsistentOrBadSpecsAreClearErrors) {
  TempDir dir;
  const std::string m = dir.file("m");
  write_mnist_split(m, "train", 4, false);
  write_bytes(m + "/train-labels-idx1-ubyte", idx_labels({1, 2, 3}));
  EXPECT_ERROR(load_dataset("mnist:" + m), "has 3 labels but " + m + "/train-images-idx3-ubyte has 4 images");
  write_bytes(m + "/train-labels-idx1-ubyte", idx_labels({1, 12, 3, 4}));
  EXPECT_ERROR(load_dataset("mnist:" + m), "label 12 of example 1 is out of range for 10 classes");

  EXPECT_ERROR(load_dataset("mnist:" + m, "test"), "cannot find t10k-images-idx3-ubyte[.gz] in " + m);
  EXPECT_ERROR(load_dataset("mnist:" + m, "val"), "split must be 'train' or 'test', got 'val'");
  EXPECT_ERROR(load_dataset("mnist:" + dir.file("nowhere")), "does not exist");
  EXPECT_ERROR(load_dataset("imagenet:/x"), "unknown data set 'imagenet:/x'");
  EXPECT_ERROR(load_dataset("mnist"), "needs a folder: mnist:DIR");
  EXPECT_ERROR(load_dataset("mnist:"), "names no folder");
}

TEST(Datasets, FashionMnistHonoursNanogenDataDir) {
  TempDir dir;
  write_mnist_split(dir.file("fashion-mnist"), "t10k", 7, true);
  const char* old = std::getenv("NANOGEN_DATA_DIR");
  const std::string saved = old ? old : "";
  ::setenv("NANOGEN_DATA_DIR", dir.path().c_str(), 1);  // the folder holding fashion-mnist/
  EXPECT_EQ(fashion_mnist_dir(), dir.file("fashion-mnist"));
  const Dataset d = load_dataset("fashion-mnist", "test");
  ::setenv("NANOGEN_DATA_DIR", dir.file("fashion-mnist").c_str(), 1);  // or the folder itself
  EXPECT_EQ(fashion_mnist_dir(), dir.file("fashion-mnist"));
  if (old)
    ::setenv("NANOGEN_DATA_DIR", saved.c_str(), 1);
  else
    ::unsetenv("NANOGEN_DATA_DIR");

  EXPECT_EQ(d.name, "fashion-mnist/test");
  EXPECT_EQ(d.size(), 7);
  EXPECT_EQ(d.class_names.at(9), "Ankle boot");
  EXPECT_EQ(load_dataset("fashion-mnist:" + dir.file("fashion-mnist"), "test").labels, d.labels);
}

TEST(Datasets, RealFashionMnistTestSplit) {
  const std::string dir = "/usr/share/datasets/fashion-mnist";
  if (!fs::exists(dir + "/t10k-images-idx3-ubyte.gz"))
    GTEST_SKIP() << dir << " is missing (install Debian's dataset-fashion-mnist package)";
  const Dataset d = load_dataset("fashion-mnist:" + dir, "test");
  EXPECT_EQ(d.images.shape(), (Shape{10000, 1, 28, 28}));
  EXPECT_EQ(d.num_classes, 10);
  std::vector<int> counts(10, 0);
  for (int l : d.labels) counts.at(size_t(l))++;
  EXPECT_EQ(counts, std::vector<int>(10, 1000));
  const std::vector<float> px = d.images.to_vector<float>();
  EXPECT_EQ(*std::min_element(px.begin(), px.end()), 0.0f);
  EXPECT_EQ(*std::max_element(px.begin(), px.end()), 1.0f);
}

// ---- CIFAR-10 -----------------------------------------------------------------------

namespace {
// Record r of a test batch: label, then pixel i = (r * 101 + i * 7) % 256.
std::string cifar_batch(int first_record, int records) {
  std::string out;
  for (int r = first_record; r < first_record + records; ++r) {
    out += char(r % 10);
    for (int i = 0; i < 3072; ++i) out += char((r * 101 + i * 7) % 256);
  }
  return out;
}
}  // namespace

TEST(Cifar10, BatchesReadInChwOrder) {
  TempDir dir;
  const std::string root = dir.file("cifar-10-batches-bin");  // where the archive unpacks
  for (int b = 1; b <= 5; ++b)
    write_bytes(root + "/data_batch_" + std::to_string(b) + ".bin", cifar_batch(2 * (b - 1), 2));
  write_bytes(root + "/test_batch.bin", cifar_batch(100, 3));

  const Dataset train = load_dataset("cifar10:" + dir.path().string(), "train");
  ASSERT_EQ(train.images.shape(), (Shape{10, 3, 32, 32}));
  EXPECT_EQ(train.labels, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(train.class_names.at(3), "cat");
  const std::vector<float> v = train.images.to_vector<float>();
  for (int r : {0, 7})
    for (int i : {0, 1, 31, 32, 1023, 1024, 2048, 3071}) {
      // byte i of a record is channel i/1024, row (i%1024)/32, column i%32: the CHW layout.
      const float want = float((r * 101 + i * 7) % 256) / 255.0f;
      EXPECT_EQ(v[size_t(r) * 3072 + size_t(i)], want) << "record " << r << " byte " << i;
      const Tensor channel = train.images.select(0, r).select(0, i / 1024);
      EXPECT_EQ(float(channel.select(0, i % 1024 / 32).select(0, i % 32).item()), want);
    }
  const Dataset test = load_cifar10(root, "test");
  EXPECT_EQ(test.size(), 3);
  EXPECT_EQ(test.labels, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(test.name, "cifar10/test");

  write_bytes(root + "/test_batch.bin", cifar_batch(0, 2).substr(0, 5000));
  EXPECT_ERROR(load_cifar10(root, "test"), "test_batch.bin: truncated or not a CIFAR-10 batch: 5000 bytes");
  std::string bad = cifar_batch(0, 2);
  bad[3073] = 10;
  write_bytes(root + "/test_batch.bin", bad);
  EXPECT_ERROR(load_cifar10(root, "test"), "record 1 has label 10");
  EXPECT_ERROR(load_cifar10(dir.file("empty"), "test"), "cannot find");
}

// ---- image folders ------------------------------------------------------------------

namespace {
// A 3x2x3 RGB image whose pixels all equal level/255.
void write_flat_png(const std::string& path, int level, int64_t channels = 3, int64_t h = 2, int64_t w = 3) {
  fs::create_directories(fs::path(path).parent_path());
  save_png(path, full({channels, h, w}, level / 255.0));
}
float first_pixel(const Dataset& d, int64_t i) { return float(d.images.select(0, i).flatten().select(0, 0).item()); }
}  // namespace

TEST(ImageFolder, SubfoldersAreSortedClasses) {
  TempDir dir;
  const std::string root = dir.file("pets");
  write_flat_png(root + "/dog/b.png", 30);
  write_flat_png(root + "/dog/a.png", 20);
  write_flat_png(root + "/cat/deep/inside/z.png", 10);  // found recursively
  write_flat_png(root + "/cat/x.PNG", 5);               // any case
  write_bytes(root + "/cat/notes.txt", "ignored");
  fs::create_directories(root + "/empty");              // no images: not a class

  const Dataset d = load_dataset("folder:" + root);
  EXPECT_EQ(d.images.shape(), (Shape{4, 3, 2, 3}));
  EXPECT_EQ(d.class_names, (std::vector<std::string>{"cat", "dog"}));
  EXPECT_EQ(d.num_classes, 2);
  // Sorted paths: cat/deep/inside/z.png, cat/x.PNG, dog/a.png, dog/b.png.
  EXPECT_EQ(d.labels, (std::vector<int>{0, 0, 1, 1}));
  const std::vector<int> levels = {10, 5, 20, 30};
  for (int i = 0; i < 4; ++i) EXPECT_EQ(first_pixel(d, i), levels[size_t(i)] / 255.0f);
  EXPECT_EQ(d.images.select(0, 3).to_vector<float>(), std::vector<float>(18, 30 / 255.0f));

  write_flat_png(root + "/dog/odd.png", 40, 3, 4, 3);
  EXPECT_ERROR(read_image_folder(root), root + "/dog/odd.png is [3,4,3] but " + root +
                                            "/cat/deep/inside/z.png is [3,2,3]; all images must share one");
  write_flat_png(root + "/dog/odd.png", 40, 1, 2, 3);  // gray among colour
  EXPECT_ERROR(read_image_folder(root), "odd.png is [1,2,3]");
  write_flat_png(root + "/loose.png", 1);
  EXPECT_ERROR(read_image_folder(root), "has images at the top level (" + root + "/loose.png) and class subfolders");
}

TEST(ImageFolder, FlatFolderAndSplits) {
  TempDir dir;
  write_flat_png(dir.file("flat/1.png"), 1, 1);
  write_flat_png(dir.file("flat/2.jpg.png"), 2, 1);
  const Dataset flat = read_image_folder(dir.file("flat/"));
  EXPECT_EQ(flat.images.shape(), (Shape{2, 1, 2, 3}));
  EXPECT_EQ(flat.num_classes, 1);
  EXPECT_EQ(flat.class_names, (std::vector<std::string>{"flat"}));
  EXPECT_EQ(flat.labels, (std::vector<int>{0, 0}));
  // Without train/test subfolders both splits are the whole folder.
  EXPECT_EQ(load_dataset("folder:" + dir.file("flat"), "test").size(), 2);

  write_flat_png(dir.file("split/train/a/1.png"), 1);
  write_flat_png(dir.file("split/train/b/1.png"), 2);
  write_flat_png(dir.file("split/test/a/1.png"), 3);
  EXPECT_EQ(load_dataset("folder:" + dir.file("split"), "train").size(), 2);
  const Dataset test = load_dataset("folder:" + dir.file("split"), "test");
  EXPECT_EQ(test.size(), 1);
  EXPECT_EQ(first_pixel(test, 0), 3 / 255.0f);

  fs::create_directories(dir.file("nothing"));
  EXPECT_ERROR(read_image_folder(dir.file("nothing")), "no .png/.jpg/.jpeg images in");
  EXPECT_ERROR(read_image_folder(dir.file("missing")), "is not a directory");
}

// ---- DataLoader ---------------------------------------------------------------------

namespace {
// n images of 1x2x2 whose pixels all equal the row index; label = index % 3.
Dataset counting_dataset(int64_t n) {
  Dataset d;
  d.name = "counting";
  d.num_classes = 3;
  std::vector<float> v;
  for (int64_t i = 0; i < n; ++i) {
    v.insert(v.end(), 4, float(i));
    d.labels.push_back(int(i % 3));
  }
  d.images = from_vector(v, {n, 1, 2, 2});
  return d;
}

// The rows visited in one epoch, checking each batch against the data set.
std::vector<int64_t> run_epoch(DataLoader& loader, int64_t epoch, std::vector<int64_t>* batch_sizes = nullptr) {
  std::vector<int64_t> seen;
  loader.start_epoch(epoch);
  int64_t expected_index = 0;
  while (auto batch = loader.next()) {
    EXPECT_EQ(batch->index, expected_index++);
    const int64_t b = batch->images.size(0);
    EXPECT_EQ(batch->images.shape(), (Shape{b, 1, 2, 2}));
    EXPECT_TRUE(batch->images.is_contiguous());
    EXPECT_EQ(int64_t(batch->labels.size()), b);
    EXPECT_EQ(int64_t(batch->indices.size()), b);
    const std::vector<float> px = batch->images.to_vector<float>();
    for (int64_t i = 0; i < b; ++i) {
      const int64_t row = batch->indices[size_t(i)];
      for (int k = 0; k < 4; ++k) EXPECT_EQ(px[size_t(i * 4 + k)], float(row));
      EXPECT_EQ(batch->labels[size_t(i)], int(row % 3));
      seen.push_back(row);
    }
    if (batch_sizes) batch_sizes->push_back(b);
  }
  EXPECT_FALSE(loader.next().has_value());  // stays over
  return seen;
}

std::vector<int64_t> iota(int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = i;
  return v;
}
}  // namespace

TEST(DataLoader, ShuffleVisitsEveryExampleOncePerEpoch) {
  DataLoader loader(counting_dataset(103), {.batch_size = 16, .shuffle = true, .seed = 7});
  EXPECT_EQ(loader.num_batches(), 7);
  std::vector<int64_t> sizes;
  const std::vector<int64_t> e0 = run_epoch(loader, 0, &sizes);
  EXPECT_EQ(sizes, (std::vector<int64_t>{16, 16, 16, 16, 16, 16, 7}));
  std::vector<int64_t> sorted = e0;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, iota(103));
  EXPECT_NE(e0, iota(103));  // actually shuffled

  const std::vector<int64_t> e1 = run_epoch(loader, 1);
  EXPECT_NE(e1, e0);  // each epoch its own order
  sorted = e1;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, iota(103));
  EXPECT_EQ(run_epoch(loader, 0), e0);  // and reproducible
  EXPECT_EQ(e0, loader.epoch_order(0));

  DataLoader same(counting_dataset(103), {.batch_size = 5, .shuffle = true, .seed = 7});
  EXPECT_EQ(run_epoch(same, 1), e1);  // the order depends on (seed, epoch), not on batch_size
  DataLoader other(counting_dataset(103), {.batch_size = 16, .shuffle = true, .seed = 8});
  EXPECT_NE(run_epoch(other, 0), e0);
}

TEST(DataLoader, SequentialDropLastAndLimit) {
  DataLoader plain(counting_dataset(10), {.batch_size = 4, .shuffle = false});
  std::vector<int64_t> sizes;
  EXPECT_EQ(run_epoch(plain, 3, &sizes), iota(10));
  EXPECT_EQ(sizes, (std::vector<int64_t>{4, 4, 2}));

  DataLoader drop(counting_dataset(10), {.batch_size = 4, .shuffle = true, .seed = 1, .drop_last = true});
  EXPECT_EQ(drop.num_batches(), 2);
  sizes.clear();
  const std::vector<int64_t> seen = run_epoch(drop, 0, &sizes);
  EXPECT_EQ(sizes, (std::vector<int64_t>{4, 4}));
  EXPECT_EQ(std::set<int64_t>(seen.begin(), seen.end()).size(), 8u);

  DataLoader small(counting_dataset(10), {.batch_size = 4, .drop_last = true, .limit = 3});
  EXPECT_EQ(small.num_batches(), 0);  // 3 examples never fill a batch of 4
  EXPECT_TRUE(run_epoch(small, 0).empty());

  DataLoader limited(counting_dataset(10), {.batch_size = 2, .shuffle = true, .seed = 3, .limit = 5});
  EXPECT_EQ(limited.num_examples(), 5);
  std::vector<int64_t> first = run_epoch(limited, 0);
  std::sort(first.begin(), first.end());
  EXPECT_EQ(first, iota(5));  // only the first 5 rows
}

TEST(DataLoader, PrefetchGivesTheSameBatchesAsInline) {
  const LoaderOptions options{.batch_size = 8, .shuffle = true, .seed = 42};
  LoaderOptions inline_options = options;
  inline_options.prefetch = false;
  DataLoader prefetching(counting_dataset(50), options), in_line(counting_dataset(50), inline_options);
  for (int64_t epoch = 0; epoch < 3; ++epoch) EXPECT_EQ(run_epoch(prefetching, epoch), run_epoch(in_line, epoch));
}

TEST(DataLoader, RestartsMidEpochAndShutsDownCleanly) {
  auto loader = std::make_unique<DataLoader>(counting_dataset(40), LoaderOptions{.batch_size = 4, .seed = 5});
  EXPECT_ERROR(loader->next(), "call start_epoch(epoch) first");
  loader->start_epoch(0);
  ASSERT_TRUE(loader->next().has_value());  // the worker is now preparing batch 1
  loader->start_epoch(1);                   // abandons epoch 0 midway
  const std::optional<Batch> first = loader->next();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->index, 0);
  const std::vector<int64_t> order = loader->epoch_order(1);
  EXPECT_EQ(first->indices, std::vector<int64_t>(order.begin(), order.begin() + 4));
  loader.reset();  // destroyed with a batch in flight: joins without hanging
  for (int i = 0; i < 20; ++i) {  // and again, many times, at random points
    DataLoader l(counting_dataset(40), {.batch_size = 3});
    l.start_epoch(i);
    for (int k = 0; k < i % 4; ++k) l.next();
  }
}

TEST(DataLoader, RejectsBadInput) {
  EXPECT_ERROR(DataLoader(counting_dataset(4), {.batch_size = 0}), "batch_size must be positive, got 0");
  EXPECT_ERROR(DataLoader(counting_dataset(4), {.limit = -1}), "limit must be non-negative");
  Dataset bad = counting_dataset(4);
  bad.labels.pop_back();
  EXPECT_ERROR(DataLoader{bad}, "dataset 'counting': 3 labels for 4 images [4,1,2,2]");
  bad = counting_dataset(4);
  bad.images = zeros({4, 4});
  EXPECT_ERROR(DataLoader{bad}, "images must be [N,C,H,W], got [4,4]");
}
