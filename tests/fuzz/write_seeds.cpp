// Writes the seed corpus of every fuzz target: small valid inputs made by
// nanogen's own writers (so that they stay valid when a format changes),
// from which libFuzzer's mutations start. The committed corpus
// (tests/fuzz/corpus/<target>/) is these seeds plus what fuzzing added.
// Usage: fuzz_write_seeds CORPUS_DIR
#include <stb/stb_image_write.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "engine/io/image.h"
#include "engine/io/safetensors.h"
#include "engine/nanogen.h"
#include "models/classifier.h"
#include "tools/classifier_file.h"
#include "tools/model_options.h"
#include "tools/train_common.h"

namespace fs = std::filesystem;
using namespace ng;

namespace {

fs::path corpus;

void write(const std::string& target, const std::string& name, const std::string& bytes) {
  fs::create_directories(corpus / target);
  std::ofstream(corpus / target / name, std::ios::binary) << bytes;
}

std::string gzip(const std::string& bytes) {
  const fs::path tmp = corpus / "tmp.gz";
  gzFile f = gzopen(tmp.c_str(), "wb9");
  gzwrite(f, bytes.data(), unsigned(bytes.size()));
  gzclose(f);
  std::ifstream in(tmp, std::ios::binary);
  std::string out((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  fs::remove(tmp);
  return out;
}

std::string read_back(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string u32_be(uint32_t v) {
  return {char(v >> 24), char(v >> 16 & 0xff), char(v >> 8 & 0xff), char(v & 0xff)};
}

void idx_seeds() {
  std::string images = u32_be(0x803) + u32_be(2) + u32_be(4) + u32_be(3);
  for (int i = 0; i < 2 * 4 * 3; ++i) images += char(i * 10);
  std::string labels = u32_be(0x801) + u32_be(3) + std::string{0, 9, 4};
  write("idx", "images", images);
  write("idx", "images.gz", gzip(images));
  write("idx", "labels", labels);
  write("idx", "labels.gz", gzip(labels));
}

void cifar10_seeds() {
  std::string batch;
  for (int r = 0; r < 2; ++r) {
    batch += char(r * 7);
    for (int i = 0; i < 3 * 32 * 32; ++i) batch += char((i * 13 + r) & 0xff);
  }
  write("cifar10", "batch.bin", batch);
  write("cifar10", "batch.bin.gz", gzip(batch));
}

void append(void* context, void* data, int size) {
  static_cast<std::string*>(context)->append(static_cast<const char*>(data), size_t(size));
}

void image_seeds() {
  const fs::path tmp = corpus / "tmp.png";
  save_png(tmp.string(), arange(0, 48).reshape({3, 4, 4}) / 48.0);
  write("image", "rgb.png", read_back(tmp));
  save_png(tmp.string(), arange(0, 15).reshape({1, 3, 5}) / 15.0);
  write("image", "gray.png", read_back(tmp));
  fs::remove(tmp);
  unsigned char pixels[4 * 4 * 3];
  for (int i = 0; i < 48; ++i) pixels[i] = static_cast<unsigned char>(i * 5);
  std::string jpg;
  stbi_write_jpg_to_func(append, &jpg, 4, 4, 3, pixels, 90);
  write("image", "rgb.jpg", jpg);
}

void safetensors_seeds() {
  const fs::path tmp = corpus / "tmp.safetensors";
  save_safetensors(tmp.string(),
                   NamedTensors{{"weight", arange(0, 4).reshape({2, 2})},
                                {"bias", zeros({2}, TensorOptions{}.with_dtype(DType::f64))}},
                   {{"epoch", "3"}});
  write("safetensors", "two-tensors.safetensors", read_back(tmp));
  fs::remove(tmp);
}

void classifier_seeds() {
  models::ClassifierConfig c;
  c.height = c.width = 4;
  c.classes = 2;
  c.feature_dim = 2;
  c.conv1 = c.conv2 = 1;
  const models::Classifier model(c);
  tools::ClassifierInfo info;
  info.data = "fashion-mnist";
  info.config = c;
  info.class_names = {"a", "b"};
  info.test_accuracy = 0.5;
  info.test_images = 2;
  info.command = "nanogen train classifier";
  const fs::path path = corpus / "classifier_file" / "narrow.safetensors";
  fs::create_directories(path.parent_path());
  tools::export_classifier(model, info, path.string());
}

void run_config_seeds() {
  using nlohmann::json;
  const json common = tools::CommonOptions{};
  const json image = {1, 28, 28};
  write("run_config", "vae.json", json{{"model", "vae"}, {"common", common}, {"image", image},
                                      {"vae", tools::VAEOptions{}}}.dump(2));
  write("run_config", "gan.json", json{{"model", "gan"}, {"common", common}, {"image", image},
                                      {"gan", tools::resolve_gan_options({})}}.dump(2));
  write("run_config", "ddpm.json", json{{"model", "ddpm"}, {"common", common}, {"image", image},
                                       {"ddpm", tools::DDPMOptions{}}}.dump(2));
  write("run_config", "classifier.json", json{{"model", "classifier"}, {"common", common}, {"image", image},
                                             {"classifier", tools::ClassifierOptions{}}, {"classes", 10}}.dump(2));
}

void metrics_csv_seeds() {
  write("metrics_csv", "steps-and-epochs.csv",
        "kind,step,epoch,loss,test_loss\nstep,1,1,0.9,\nstep,5,1,0.5,\nepoch,5,1,,0.6\nstep,9,2,0.4,\n");
  write("metrics_csv", "older-header.csv", "kind,step,loss\nstep,3,0.7\nstep,7,0.3\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  corpus = argv[1];
  idx_seeds();
  cifar10_seeds();
  image_seeds();
  safetensors_seeds();
  classifier_seeds();
  run_config_seeds();
  metrics_csv_seeds();
  std::printf("seeds written under %s\n", corpus.c_str());
  return 0;
}
