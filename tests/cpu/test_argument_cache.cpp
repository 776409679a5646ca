// The bookkeeping of engine/cuda/argument_cache.h with a fake device buffer:
// bytes already uploaded are not uploaded again, whatever else came between,
// and new bytes always are.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/cuda/argument_cache.h"

namespace {

using Bytes = std::vector<unsigned char>;

Bytes bytes_of(const std::string& s) { return Bytes(s.begin(), s.end()); }

// A "device buffer" that remembers what was uploaded into it.
struct FakeBuffer {
  Bytes held;
};

struct Uploader {
  int* calls;
  FakeBuffer operator()(const Bytes& b) const {
    ++*calls;
    return FakeBuffer{b};
  }
};

}  // namespace

TEST(ArgumentCache, TheSameBytesAreUploadedOnce) {
  ng::cuda::ArgumentCache<FakeBuffer> cache;
  int calls = 0;
  const Bytes a = bytes_of("params p g m v, chunk map");
  for (int step = 0; step < 5; ++step) EXPECT_EQ(cache.get(0, a, Uploader{&calls}).held, a);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(cache.uploads(), 1);
}

TEST(ArgumentCache, NewBytesAreUploadedAndEachListKeepsItsOwnBuffer) {
  ng::cuda::ArgumentCache<FakeBuffer> cache;
  int calls = 0;
  const Bytes g = bytes_of("G's parameters"), d = bytes_of("D's parameters");
  const Bytes d_moved = bytes_of("D's parameterz");  // one byte differs: a gradient at a new address
  for (int step = 0; step < 4; ++step) {  // a GAN alternates two optimizers
    EXPECT_EQ(cache.get(0, d, Uploader{&calls}).held, d);
    EXPECT_EQ(cache.get(0, g, Uploader{&calls}).held, g);
  }
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(cache.get(0, d_moved, Uploader{&calls}).held, d_moved);
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(cache.get(0, bytes_of("D's param"), Uploader{&calls}).held, bytes_of("D's param"));  // a prefix is new
  EXPECT_EQ(calls, 4);
  EXPECT_EQ(cache.get(1, d, Uploader{&calls}).held, d);  // the same bytes for another device
  EXPECT_EQ(calls, 5);
}

TEST(ArgumentCache, TheLeastRecentlyUsedEntryMakesRoom) {
  ng::cuda::ArgumentCache<FakeBuffer> cache(2);
  int calls = 0;
  const Bytes a = bytes_of("a"), b = bytes_of("b"), c = bytes_of("c");
  cache.get(0, a, Uploader{&calls});
  cache.get(0, b, Uploader{&calls});
  cache.get(0, a, Uploader{&calls});  // a is now the most recent
  cache.get(0, c, Uploader{&calls});  // evicts b
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(calls, 3);
  cache.get(0, a, Uploader{&calls});
  EXPECT_EQ(calls, 3);
  cache.get(0, b, Uploader{&calls});
  EXPECT_EQ(calls, 4);
}
