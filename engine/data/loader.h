// Batches from an in-memory Dataset, prepared one ahead on a background thread.
//
//   DataLoader loader(dataset, {.batch_size = 64, .shuffle = true, .seed = 1});
//   for (int64_t epoch = 0; epoch < epochs; ++epoch) {
//     loader.start_epoch(epoch);
//     while (auto batch = loader.next()) train_step(batch->images, batch->labels);
//   }
//
// Shuffling is a Fisher-Yates permutation drawn from std::mt19937_64 seeded
// with seed + epoch: the same (seed, epoch) gives the same order on every
// machine, so a resumed run sees the batches an uninterrupted one would have.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "engine/data/dataset.h"

namespace ng {

struct LoaderOptions {
  int64_t batch_size = 64;
  bool shuffle = true;
  uint64_t seed = 0;
  bool drop_last = false;  // skip a last batch smaller than batch_size
  int64_t limit = 0;       // > 0: use only the first `limit` examples
  bool prefetch = true;    // false: build each batch in next() (simpler to debug)
};

struct Batch {
  Tensor images;                 // [B,C,H,W] float32, contiguous, a copy (safe to modify)
  std::vector<int> labels;       // B labels
  std::vector<int64_t> indices;  // the B data set rows
  int64_t index = 0;             // which batch of the epoch, from 0
};

class DataLoader {
 public:
  // Keeps a handle to dataset.images (no copy of the pixels).
  DataLoader(Dataset dataset, LoaderOptions options = {});
  ~DataLoader();  // stops and joins the prefetch thread
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  // Begins an epoch (any epoch, in any order) and starts preparing batch 0.
  void start_epoch(int64_t epoch);
  // The next batch of the epoch, or nullopt once it is over. Rethrows an error
  // raised while preparing the batch.
  std::optional<Batch> next();

  // The order the data set rows are visited in during `epoch`.
  std::vector<int64_t> epoch_order(int64_t epoch) const;
  int64_t num_examples() const { return num_examples_; }  // after `limit`
  int64_t num_batches() const { return num_batches_; }
  const Dataset& dataset() const { return dataset_; }
  const LoaderOptions& options() const { return options_; }

 private:
  Batch make_batch(int64_t index) const;
  void worker_loop();

  Dataset dataset_;
  LoaderOptions options_;
  int64_t num_examples_ = 0;
  int64_t num_batches_ = 0;

  // Owned by the calling thread; read by the worker only while it builds a
  // batch, and changed only while it is idle (start_epoch waits for that).
  std::vector<int64_t> order_;
  int64_t cursor_ = 0;
  bool started_ = false;

  // Shared with the worker, guarded by mutex_.
  std::mutex mutex_;
  std::condition_variable changed_;
  std::optional<int64_t> requested_;  // the batch the worker should build next
  std::optional<Batch> ready_;        // the batch it built
  std::exception_ptr error_;          // or the error it hit
  bool busy_ = false;
  bool stop_ = false;
  std::thread worker_;
};

}  // namespace ng
