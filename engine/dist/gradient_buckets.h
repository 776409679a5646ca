// Averaging gradients over the ranks while the backward pass still runs, as
// PyTorch's DistributedDataParallel does.
//
// The parameters are cut into buckets of about `bucket_bytes`, in reverse
// order: backward finishes the last layers' gradients first. The moment every
// gradient of a bucket is final (autograd::LeafReadyHook), the bucket's
// all-reduce starts, and it travels while backward computes the gradients of
// the layers below. Buckets start in the same order on every rank, whatever
// the order their gradients became final in, because MPI and NCCL match
// collectives by their order.
//
//   dist::GradientBuckets buckets(ranks, model.parameters(), 4 << 20);
//   buckets.backward(loss);   // every .grad is now the mean over the ranks
//
// Every rank must give the same parameters and produce gradients for the
// same ones (an undefined .grad is left out, on every rank alike).
#pragma once

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "engine/dist/communicator.h"
#include "engine/tensor.h"

namespace ng::dist {

class GradientBuckets {
 public:
  // A bucket holds parameters of one dtype and one device; `bucket_bytes`
  // <= 0 puts each dtype and device in one bucket (no overlap: its sum starts
  // when backward has ended).
  GradientBuckets(Communicator& ranks, const std::vector<Tensor>& params, int64_t bucket_bytes);

  // Runs loss.backward() and returns once each parameter's gradient is its
  // mean over the ranks.
  void backward(const Tensor& loss);

  // The buckets, each as indices into `params`, in the order they start.
  const std::vector<std::vector<size_t>>& buckets() const { return members_; }
  // How many buckets started before backward() had ended: the overlap won.
  int64_t started_during_backward() const { return started_early_; }

 private:
  void on_ready(const Tensor& leaf);
  void start_ready_buckets();
  void start(size_t bucket);

  Communicator& ranks_;
  std::vector<Tensor> params_;
  std::vector<std::vector<size_t>> members_;        // bucket -> parameter indices
  std::vector<size_t> bucket_of_;                   // parameter index -> bucket
  std::unordered_map<const void*, size_t> index_of_; // a parameter's TensorImpl -> its index
  std::vector<size_t> waiting_;                     // bucket -> gradients not yet final
  std::vector<std::unique_ptr<PendingCollective>> pending_;
  std::vector<Tensor> sent_;                        // the gradients in flight
  size_t next_ = 0;                                 // the next bucket to start
  int64_t started_early_ = 0;
};

}  // namespace ng::dist
