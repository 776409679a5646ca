// Named data sets, for the CLI's --data flag:
//
//   "fashion-mnist"        Debian's dataset-fashion-mnist package, in
//                          /usr/share/datasets/fashion-mnist, or in
//                          $NANOGEN_DATA_DIR/fashion-mnist or $NANOGEN_DATA_DIR
//                          when that variable is set
//   "fashion-mnist:DIR"    the same files in DIR
//   "mnist:DIR"            {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] in DIR
//   "cifar10:DIR"          CIFAR-10's binary batches in DIR
//   "folder:DIR"           PNG/JPEG images (engine/data/image_folder.h); when DIR
//                          has train/ and test/ subfolders they are the splits,
//                          otherwise the whole folder serves both splits
//
// split is "train" or "test".
#pragma once

#include <string>

#include "engine/data/dataset.h"

namespace ng {

Dataset load_dataset(const std::string& spec, const std::string& split = "train");

// MNIST-format IDX files of one split in dir; labels checked against 10 classes.
Dataset load_mnist_dir(const std::string& dir, const std::string& split, const std::string& name = "mnist");

// Where "fashion-mnist" is looked for (see above).
std::string fashion_mnist_dir();

}  // namespace ng
