// Progress lines off a terminal (logs, CI): one each time the count passes
// a multiple of plain_every, even when it advances in strides larger than
// that (eval samples 500 images a call and printed nothing until the end),
// in the unit counted.
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "tools/progress.h"

using ng::tools::Progress;

namespace {

int count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST(Progress, PlainLinesComeAtEveryMultiplePassedInTheUnitCounted) {
  if (isatty(STDERR_FILENO)) GTEST_SKIP() << "stderr is a terminal: the bar is redrawn instead";
  testing::internal::CaptureStderr();
  {
    Progress bar("sampling", 1000, 100, "image");
    for (int64_t done : {300, 600, 900, 1000}) bar.update(done, "");
    bar.finish("");
  }
  const std::string text = testing::internal::GetCapturedStderr();
  EXPECT_EQ(count(text, "sampling image "), 4) << text;
  EXPECT_NE(text.find("sampling image 300/1000"), std::string::npos) << text;
  EXPECT_NE(text.find("images/s"), std::string::npos) << text;
  EXPECT_NE(text.find("sampling done: 1000 images in"), std::string::npos) << text;
  EXPECT_EQ(text.find("steps"), std::string::npos) << text;

  testing::internal::CaptureStderr();
  {
    Progress epoch("epoch 1/3", 20, 5);
    for (int64_t step = 1; step <= 20; ++step) epoch.update(step, "loss 1.0");
  }
  const std::string steps = testing::internal::GetCapturedStderr();
  EXPECT_EQ(count(steps, "epoch 1/3 step "), 4) << steps;
  EXPECT_NE(steps.find("it/s"), std::string::npos) << steps;
}
