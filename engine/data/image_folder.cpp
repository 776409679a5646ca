#include "engine/data/image_folder.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>

#include "engine/error.h"
#include "engine/io/image.h"

namespace ng {

namespace fs = std::filesystem;

namespace {

bool is_image_file(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

// Image files under dir, at any depth, sorted.
std::vector<fs::path> images_below(const fs::path& dir) {
  std::vector<fs::path> found;
  for (const auto& entry : fs::recursive_directory_iterator(dir, fs::directory_options::follow_directory_symlink))
    if (entry.is_regular_file() && is_image_file(entry.path())) found.push_back(entry.path());
  std::sort(found.begin(), found.end());
  return found;
}

// "a/b/" -> "b"
std::string folder_name(const std::string& dir) {
  fs::path p = fs::absolute(dir).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  return p.filename().string();
}

}  // namespace

Dataset read_image_folder(const std::string& dir) {
  std::error_code ec;
  NG_CHECK(fs::is_directory(dir, ec), "image folder: ", dir, " is not a directory");

  std::vector<fs::path> class_dirs, top_level_images;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_directory())
      class_dirs.push_back(entry.path());
    else if (entry.is_regular_file() && is_image_file(entry.path()))
      top_level_images.push_back(entry.path());
  }
  std::sort(class_dirs.begin(), class_dirs.end());
  std::sort(top_level_images.begin(), top_level_images.end());
  NG_CHECK(class_dirs.empty() || top_level_images.empty(), "image folder: ", dir,
           " has images at the top level (", top_level_images.front().string(),
           ") and class subfolders; put every image in a class subfolder");

  // (path, label) of every image, and the class names.
  std::vector<std::pair<fs::path, int>> files;
  std::vector<std::string> class_names;
  if (class_dirs.empty()) {
    for (const fs::path& p : top_level_images) files.emplace_back(p, 0);
    class_names.push_back(folder_name(dir));
  } else {
    for (const fs::path& class_dir : class_dirs) {
      const std::vector<fs::path> found = images_below(class_dir);
      if (found.empty()) continue;  // an empty subfolder is not a class
      for (const fs::path& p : found) files.emplace_back(p, int(class_names.size()));
      class_names.push_back(class_dir.filename().string());
    }
  }
  NG_CHECK(!files.empty(), "image folder: no .png/.jpg/.jpeg images in ", dir);

  const Tensor first = load_image(files[0].first.string());
  Dataset d;
  d.name = "folder:" + dir;
  d.num_classes = int(class_names.size());
  d.class_names = class_names;
  d.images = empty({int64_t(files.size()), first.size(0), first.size(1), first.size(2)});
  const int64_t per_image = first.numel();
  for (size_t i = 0; i < files.size(); ++i) {
    const Tensor image = i == 0 ? first : load_image(files[i].first.string());
    NG_CHECK(image.shape() == first.shape(), "image folder: ", files[i].first.string(), " is ",
             shape_str(image.shape()), " but ", files[0].first.string(), " is ", shape_str(first.shape()),
             "; all images must share one [C,H,W] size");
    std::memcpy(d.images.data<float>() + int64_t(i) * per_image, image.data<float>(), per_image * sizeof(float));
    d.labels.push_back(files[i].second);
  }
  return d;
}

}  // namespace ng
