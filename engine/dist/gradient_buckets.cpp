#include "engine/dist/gradient_buckets.h"

#include <map>
#include <utility>

#include "engine/autograd.h"
#include "engine/ops/elementwise.h"

namespace ng::dist {

GradientBuckets::GradientBuckets(Communicator& ranks, const std::vector<Tensor>& params, int64_t bucket_bytes)
    : ranks_(ranks), params_(params), bucket_of_(params.size()) {
  // The bucket being filled for each dtype and device, and its bytes so far.
  std::map<std::pair<int, std::string>, std::pair<size_t, int64_t>> open;
  for (size_t i = params_.size(); i-- > 0;) {
    const Tensor& p = params_[i];
    if (!index_of_.emplace(p.impl().get(), i).second) continue;  // listed twice: sent once
    const auto key = std::make_pair(int(p.dtype()), p.device().str());
    const int64_t bytes = p.numel() * int64_t(dtype_size(p.dtype()));
    auto it = open.find(key);
    if (it == open.end() || (bucket_bytes > 0 && it->second.second + bytes > bucket_bytes)) {
      members_.emplace_back();
      it = open.insert_or_assign(key, std::make_pair(members_.size() - 1, int64_t(0))).first;
    }
    members_[it->second.first].push_back(i);
    it->second.second += bytes;
    bucket_of_[i] = it->second.first;
  }
}

void GradientBuckets::backward(const Tensor& loss) {
  waiting_.clear();
  for (const auto& m : members_) waiting_.push_back(m.size());
  pending_.clear();
  sent_.clear();
  next_ = 0;
  started_early_ = 0;
  {
    autograd::LeafReadyHook hook([this](const Tensor& leaf) { on_ready(leaf); });
    loss.backward();
    started_early_ = int64_t(next_);
  }
  // Parameters the backward pass never reached keep the .grad they had.
  for (size_t& w : waiting_) w = 0;
  start_ready_buckets();
  for (auto& p : pending_) p->wait();
  NoGradGuard no_grad;
  const double mean = 1.0 / double(ranks_.world_size());
  for (Tensor& g : sent_) mul_(g, mean);
}

void GradientBuckets::on_ready(const Tensor& leaf) {
  auto it = index_of_.find(leaf.impl().get());
  if (it != index_of_.end() && --waiting_[bucket_of_[it->second]] == 0) start_ready_buckets();
  for (auto& p : pending_) p->test();  // MPI moves a message only inside its calls
}

void GradientBuckets::start_ready_buckets() {
  while (next_ < members_.size() && waiting_[next_] == 0) start(next_++);
}

void GradientBuckets::start(size_t bucket) {
  std::vector<Tensor> grads;
  for (size_t i : members_[bucket])
    if (params_[i].grad().defined()) grads.push_back(params_[i].grad());
  pending_.push_back(ranks_.start_all_reduce_sum(grads));
  sent_.insert(sent_.end(), grads.begin(), grads.end());
}

}  // namespace ng::dist
