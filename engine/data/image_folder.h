// A folder of PNG/JPEG images as a data set.
//
//   DIR/cat/001.png, DIR/cat/more/002.jpg, DIR/dog/003.png   two classes
//   DIR/001.png, DIR/002.png                                 one class, "DIR"'s name
//
// With class subfolders, their names sorted give labels 0, 1, ... and images
// are found recursively inside each; without, every image is class 0.
// Extensions .png .jpg .jpeg in any case; other files are ignored. Images are
// read in sorted path order, so the data set is the same on every machine.
#pragma once

#include <string>

#include "engine/data/dataset.h"

namespace ng {

// All images must share one [C,H,W] (C: gray 1 or colour 3, alpha dropped);
// the error names the first odd file. Throws when the folder holds no images,
// or holds images both at the top level and in class subfolders.
Dataset read_image_folder(const std::string& dir);

}  // namespace ng
