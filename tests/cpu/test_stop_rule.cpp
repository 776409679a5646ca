// --max-steps and --time-limit: when a training session stops early.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "support/gradcheck.h"
#include "tools/train_common.h"

using namespace ng;
using namespace ng::tools;

TEST(StopRule, MaxStepsCountsOptimizerStepsInAll) {
  CommonOptions o;
  o.max_steps = 5;
  const StopRule stop(o);
  EXPECT_FALSE(stop.reached(4));
  EXPECT_TRUE(stop.reached(5));
  EXPECT_TRUE(stop.reached(6));
  EXPECT_EQ(stop.reason(5), "reached --max-steps");
}

TEST(StopRule, NoLimitsNeverStop) {
  const StopRule stop(CommonOptions{});
  EXPECT_FALSE(stop.reached(0));
  EXPECT_FALSE(stop.reached(1'000'000'000));
}

TEST(StopRule, TimeLimitCountsSecondsSinceTheSessionStarted) {
  CommonOptions o;
  o.time_limit = 0.5;
  const StopRule stop(o);
  EXPECT_FALSE(stop.reached(1));  // microseconds after construction
  std::this_thread::sleep_for(std::chrono::milliseconds(550));
  EXPECT_TRUE(stop.reached(1));
  EXPECT_EQ(stop.reason(1), "reached --time-limit (0.5 s)");

  CommonOptions hour;
  hour.time_limit = 3600;
  EXPECT_FALSE(StopRule(hour).reached(1));
}

TEST(StopRule, NegativeTimeLimitIsRefused) {
  CommonOptions o;
  o.time_limit = -1;
  test::expect_error([&] { StopRule stop(o); }, {"--time-limit must be >= 0 seconds, got -1"});
}
