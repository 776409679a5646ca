#include "engine/data/loader.h"

#include <algorithm>
#include <cstring>
#include <random>

#include "engine/error.h"

namespace ng {

DataLoader::DataLoader(Dataset dataset, LoaderOptions options)
    : dataset_(std::move(dataset)), options_(options) {
  check_dataset(dataset_);
  dataset_.images = dataset_.images.contiguous();  // rows are then plain memcpy's
  NG_CHECK(options_.batch_size > 0, "DataLoader: batch_size must be positive, got ", options_.batch_size);
  NG_CHECK(options_.limit >= 0, "DataLoader: limit must be non-negative, got ", options_.limit);
  num_examples_ = options_.limit > 0 ? std::min(options_.limit, dataset_.size()) : dataset_.size();
  num_batches_ = options_.drop_last ? num_examples_ / options_.batch_size
                                    : (num_examples_ + options_.batch_size - 1) / options_.batch_size;
  if (options_.prefetch) worker_ = std::thread([this] { worker_loop(); });
}

DataLoader::~DataLoader() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  if (worker_.joinable()) worker_.join();
}

std::vector<int64_t> DataLoader::epoch_order(int64_t epoch) const {
  std::vector<int64_t> order(static_cast<size_t>(num_examples_));
  for (int64_t i = 0; i < num_examples_; ++i) order[size_t(i)] = i;
  if (!options_.shuffle) return order;
  // Fisher-Yates with our own index draw: std::shuffle and the std
  // distributions differ between standard libraries, mt19937_64 does not.
  // The modulo bias is below 2^-40 for any realistic data set.
  std::mt19937_64 rng(options_.seed + uint64_t(epoch));
  for (int64_t i = num_examples_ - 1; i > 0; --i) {
    const uint64_t j = rng() % uint64_t(i + 1);
    std::swap(order[size_t(i)], order[size_t(j)]);
  }
  return order;
}

void DataLoader::start_epoch(int64_t epoch) {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [this] { return !busy_; });  // a batch of the old epoch may be in flight
  requested_.reset();
  ready_.reset();
  error_ = nullptr;
  order_ = epoch_order(epoch);
  cursor_ = 0;
  started_ = true;
  if (options_.prefetch && num_batches_ > 0) {
    requested_ = 0;
    changed_.notify_all();
  }
}

std::optional<Batch> DataLoader::next() {
  NG_CHECK(started_, "DataLoader::next: call start_epoch(epoch) first");
  if (cursor_ >= num_batches_) return std::nullopt;
  Batch batch;
  if (!options_.prefetch) {
    batch = make_batch(cursor_);
  } else {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [this] { return ready_.has_value() || error_ != nullptr; });
    if (error_) {
      std::exception_ptr error = error_;
      error_ = nullptr;
      std::rethrow_exception(error);
    }
    batch = std::move(*ready_);
    ready_.reset();
    if (cursor_ + 1 < num_batches_) {  // start on the next while the caller uses this one
      requested_ = cursor_ + 1;
      changed_.notify_all();
    }
  }
  ++cursor_;
  return batch;
}

Batch DataLoader::make_batch(int64_t index) const {
  const int64_t begin = index * options_.batch_size;
  const int64_t end = std::min(begin + options_.batch_size, num_examples_);
  const Tensor& images = dataset_.images;
  const int64_t row = images.numel() / std::max<int64_t>(images.size(0), 1);

  Batch batch;
  batch.index = index;
  batch.indices.assign(order_.begin() + begin, order_.begin() + end);
  batch.images = empty({end - begin, images.size(1), images.size(2), images.size(3)});
  const float* src = images.data<float>();
  float* dst = batch.images.data<float>();
  for (size_t i = 0; i < batch.indices.size(); ++i) {
    std::memcpy(dst + int64_t(i) * row, src + batch.indices[i] * row, size_t(row) * sizeof(float));
    batch.labels.push_back(dataset_.labels[size_t(batch.indices[i])]);
  }
  return batch;
}

void DataLoader::worker_loop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    changed_.wait(lock, [this] { return stop_ || requested_.has_value(); });
    if (stop_) return;
    const int64_t index = *requested_;
    requested_.reset();
    busy_ = true;
    lock.unlock();
    std::optional<Batch> batch;
    std::exception_ptr error;
    try {
      batch = make_batch(index);
    } catch (...) {
      error = std::current_exception();
    }
    lock.lock();
    busy_ = false;
    ready_ = std::move(batch);
    error_ = error;
    changed_.notify_all();
  }
}

}  // namespace ng
