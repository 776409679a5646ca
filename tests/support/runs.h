// Helpers shared by the model tests: devices to run on, the data-set check,
// fresh run folders, and the comparison used against PyTorch fixtures.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/nanogen.h"

namespace ng::test {

// The CPU, plus the first GPU when one is visible.
inline std::vector<Device> devices() {
  std::vector<Device> d{Device::cpu()};
  if (cuda_available()) d.push_back(Device::cuda(0));
  return d;
}

// Debian's dataset-fashion-mnist, which the training tests read.
inline bool have_fashion_mnist() {
  return std::filesystem::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz") &&
         std::filesystem::exists("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz");
}

// An empty run folder of this process, so parallel runs never share one.
inline std::string temp_run(const std::string& name) {
  const std::string dir = testing::TempDir() + "/nanogen_" + std::to_string(::getpid()) + "_" + name;
  std::filesystem::remove_all(dir);
  return dir;
}

// Agreement of two float32 computations of the same quantity: each element
// within rtol times the reference's largest magnitude, plus atol.
inline void expect_close_rel(const Tensor& actual, const Tensor& expected, double rtol, double atol,
                             const std::string& what) {
  const std::vector<double> a = actual.to_vector<double>(), e = expected.to_vector<double>();
  ASSERT_EQ(a.size(), e.size()) << what;
  double scale = 0;
  for (double v : e) scale = std::max(scale, std::fabs(v));
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], e[i], rtol * scale + atol) << what << " element " << i;
}

}  // namespace ng::test
