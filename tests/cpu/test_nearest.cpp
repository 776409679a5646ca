// Nearest neighbours in a reference set: a brute-force reference with the
// blocking exercised, exact matches, the median distance, and input checks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "engine/nanogen.h"
#include "eval/nearest.h"
#include "support/gradcheck.h"

using namespace ng;

static const TensorOptions kF64 = TensorOptions{}.with_dtype(DType::f64);

TEST(NearestNeighbours, AgreeWithBruteForceForEveryBlockSize) {
  const Tensor q = test::uniform({37, 6}, 1), ref = test::uniform({101, 6}, 2);
  const std::vector<double> vq = q.to_vector<double>(), vr = ref.to_vector<double>();
  const int64_t k = 4;
  for (int64_t block : {0, 1, 5, 37}) {
    const eval::Neighbours nn = eval::nearest_neighbours(q, ref, k, block);
    ASSERT_EQ(nn.index.size(), 37u);
    for (size_t i = 0; i < 37; ++i) {
      // Every reference row's distance, coordinate by coordinate, sorted.
      std::vector<std::pair<double, int64_t>> all;
      for (size_t j = 0; j < 101; ++j) {
        double s = 0;
        for (size_t c = 0; c < 6; ++c) s += (vq[i * 6 + c] - vr[j * 6 + c]) * (vq[i * 6 + c] - vr[j * 6 + c]);
        all.push_back({std::sqrt(s), int64_t(j)});
      }
      std::sort(all.begin(), all.end());
      ASSERT_EQ(nn.index[i].size(), size_t(k));
      for (size_t r = 0; r < size_t(k); ++r) {
        EXPECT_EQ(nn.index[i][r], all[r].second) << "query " << i << " rank " << r << " block " << block;
        EXPECT_NEAR(nn.distance[i][r], all[r].first, 1e-12) << "query " << i << " rank " << r;
      }
    }
  }
}

TEST(NearestNeighbours, AQueryFromTheReferenceFindsItself) {
  const Tensor ref = test::uniform({50, 10}, 3, -1, 1, DType::f32);  // float32, as images are
  const Tensor q = cat({ref.narrow(0, 17, 1), ref.narrow(0, 42, 1)}, 0);
  const eval::Neighbours nn = eval::nearest_neighbours(q, ref, 2);
  EXPECT_EQ(nn.index[0][0], 17);
  EXPECT_EQ(nn.index[1][0], 42);
  EXPECT_NEAR(nn.distance[0][0], 0.0, 1e-6);
  EXPECT_GT(nn.distance[0][1], 0.1);
}

TEST(NearestNeighbours, EqualDistancesKeepTheSmallerIndexFirst) {
  // Points 1 and 3 are both at distance 1 from the query at 0 (D = 1).
  const Tensor ref = from_vector(std::vector<double>{5, 1, 7, -1}, {4, 1});
  const eval::Neighbours nn = eval::nearest_neighbours(zeros({1, 1}, kF64), ref, 3);
  EXPECT_EQ(nn.index[0], (std::vector<int64_t>{1, 3, 0}));
  EXPECT_EQ(nn.distance[0], (std::vector<double>{1, 1, 5}));
}

TEST(MedianNearestDistance, OddAndEvenCounts) {
  // Reference {0} on a line: the queries' distances are the queries themselves.
  const Tensor ref = zeros({1, 1}, kF64);
  EXPECT_NEAR(eval::median_nearest_distance(from_vector(std::vector<double>{3, 1, 2}, {3, 1}), ref), 2.0, 1e-15);
  EXPECT_NEAR(eval::median_nearest_distance(from_vector(std::vector<double>{10, 3, 1, 2}, {4, 1}), ref), 2.5, 1e-15);
}

TEST(NearestNeighbours, ErrorsNameTheShapes) {
  test::expect_error([] { eval::nearest_neighbours(zeros({4, 784}, kF64), zeros({100, 28, 28}, kF64), 1); },
                     {"nearest_neighbours", "reference", "[100,28,28]", "[N, D]"});
  test::expect_error([] { eval::nearest_neighbours(zeros({4, 784}, kF64), zeros({100, 783}, kF64), 1); },
                     {"nearest_neighbours", "[4,784]", "[100,783]", "feature widths"});
  test::expect_error([] { eval::nearest_neighbours(zeros({4, 3}, kF64), zeros({2, 3}, kF64), 3); },
                     {"nearest_neighbours", "[2,3]", "k = 3"});
  test::expect_error([] { eval::nearest_neighbours(zeros({4, 3}, kF64), zeros({2, 3}, kF64), 0); },
                     {"nearest_neighbours", "k is 0"});
}
