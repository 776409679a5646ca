#include "engine/data/datasets.h"

#include <cstdlib>
#include <filesystem>

#include "engine/data/cifar10.h"
#include "engine/data/idx.h"
#include "engine/data/image_folder.h"
#include "engine/error.h"

namespace ng {

namespace fs = std::filesystem;

namespace {

void check_split(const std::string& what, const std::string& split) {
  NG_CHECK(split == "train" || split == "test", what, ": split must be 'train' or 'test', got '", split, "'");
}

// dir/base.gz, dir/base, or the dotted spelling some mirrors use
// ("train-images.idx3-ubyte").
std::string find_idx_file(const std::string& what, const std::string& dir, const std::string& base) {
  std::string dotted = base;
  dotted[dotted.find('-', dotted.find('-') + 1)] = '.';  // "train-images-idx3" -> "train-images.idx3"
  for (const std::string& name : {base + ".gz", base, dotted + ".gz", dotted}) {
    const fs::path p = fs::path(dir) / name;
    if (fs::is_regular_file(p)) return p.string();
  }
  throw Error(what + ": cannot find " + base + "[.gz] in " + dir);
}

const std::vector<std::string>& fashion_class_names() {
  static const std::vector<std::string> names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                 "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return names;
}

Dataset load_folder(const std::string& dir, const std::string& split) {
  check_split("folder", split);
  const bool has_splits = fs::is_directory(fs::path(dir) / "train") || fs::is_directory(fs::path(dir) / "test");
  Dataset d = read_image_folder(has_splits ? (fs::path(dir) / split).string() : dir);
  d.name = "folder:" + dir + "/" + split;
  return d;
}

}  // namespace

std::string fashion_mnist_dir() {
  const char* env = std::getenv("NANOGEN_DATA_DIR");
  if (env && *env) {
    const fs::path sub = fs::path(env) / "fashion-mnist";
    return fs::is_directory(sub) ? sub.string() : std::string(env);
  }
  return "/usr/share/datasets/fashion-mnist";
}

Dataset load_mnist_dir(const std::string& dir, const std::string& split, const std::string& name) {
  check_split(name, split);
  NG_CHECK(fs::is_directory(dir), name, ": data folder ", dir, " does not exist");
  const std::string prefix = split == "train" ? "train" : "t10k";
  const std::string images_path = find_idx_file(name, dir, prefix + "-images-idx3-ubyte");
  const std::string labels_path = find_idx_file(name, dir, prefix + "-labels-idx1-ubyte");
  Dataset d;
  d.name = name + "/" + split;
  d.images = read_idx_images(images_path);
  d.labels = read_idx_labels(labels_path);
  d.num_classes = 10;
  NG_CHECK(int64_t(d.labels.size()) == d.size(), name, ": ", labels_path, " has ", d.labels.size(), " labels but ",
           images_path, " has ", d.size(), " images");
  check_dataset(d);
  return d;
}

Dataset load_dataset(const std::string& spec, const std::string& split) {
  const size_t colon = spec.find(':');
  const std::string kind = spec.substr(0, colon);
  const std::string dir = colon == std::string::npos ? "" : spec.substr(colon + 1);
  NG_CHECK(colon == std::string::npos || !dir.empty(), "load_dataset: '", spec, "' names no folder after the ':'");

  if (kind == "fashion-mnist") {
    const std::string where = dir.empty() ? fashion_mnist_dir() : dir;
    NG_CHECK(fs::is_directory(where), "fashion-mnist: ", where,
             " does not exist (install Debian's dataset-fashion-mnist package, set NANOGEN_DATA_DIR, "
             "or pass fashion-mnist:DIR)");
    Dataset d = load_mnist_dir(where, split, "fashion-mnist");
    d.class_names = fashion_class_names();
    return d;
  }
  NG_CHECK(kind == "mnist" || kind == "cifar10" || kind == "folder", "load_dataset: unknown data set '", spec,
           "' (expected fashion-mnist, fashion-mnist:DIR, mnist:DIR, cifar10:DIR or folder:DIR)");
  NG_CHECK(!dir.empty(), "load_dataset: '", spec, "' needs a folder: ", kind, ":DIR");
  if (kind == "mnist") {
    Dataset d = load_mnist_dir(dir, split, "mnist");
    for (int c = 0; c < 10; ++c) d.class_names.push_back(std::to_string(c));
    return d;
  }
  if (kind == "cifar10") return load_cifar10(dir, split);
  return load_folder(dir, split);
}

}  // namespace ng
