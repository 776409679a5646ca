// Data-parallel training's collectives. Every rank (one process, one device)
// holds a copy of the model and trains on its share of each global batch;
// after each backward pass the ranks sum their gradients, so that every copy
// takes the same step (docs/distributed.md).
//
// A Communicator is the few collectives that needs, on a transport the
// cluster already has: MPI between processes (dist/mpi_communicator.h, built
// when Debian's libopenmpi-dev is found), or nothing at all for one process.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace ng::dist {

// A collective under way (Communicator::start_all_reduce_sum). Its tensors
// hold the result once wait() has returned, and must not be touched before.
class PendingCollective {
 public:
  virtual ~PendingCollective() = default;
  // Lets the transport move the data along without blocking (MPI progresses
  // a non-blocking collective only inside MPI calls); true once it is done.
  virtual bool test() { return true; }
  // Returns when the collective is done and its tensors hold the result.
  virtual void wait() {}
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  // This rank's index among the ranks on its machine: the GPU it takes.
  virtual int local_rank() const = 0;
  virtual std::string backend() const = 0;  // "single" or "mpi"

  // Replaces each tensor, on every rank, by its sum over the ranks. Every
  // rank must pass tensors of the same shapes and dtypes in the same order;
  // those of one dtype travel as one message.
  virtual void all_reduce_sum(const std::vector<Tensor>& tensors) = 0;
  // The same, started and returned from at once: the caller computes on
  // (the rest of a backward pass) while the sum travels. The tensors' values
  // are read before this returns. By default it runs to the end here.
  virtual std::unique_ptr<PendingCollective> start_all_reduce_sum(const std::vector<Tensor>& tensors) {
    all_reduce_sum(tensors);
    return std::make_unique<PendingCollective>();
  }
  // Replaces each tensor by rank `root`'s.
  virtual void broadcast(const std::vector<Tensor>& tensors, int root = 0) = 0;
  // Returns once every rank has called it.
  virtual void barrier() = 0;

  bool is_root() const { return rank() == 0; }
};

// One process: rank 0 of 1, and the collectives change nothing.
class SingleProcess final : public Communicator {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  int local_rank() const override { return 0; }
  std::string backend() const override { return "single"; }
  void all_reduce_sum(const std::vector<Tensor>&) override {}
  void broadcast(const std::vector<Tensor>&, int) override {}
  void barrier() override {}
};

// True when the environment shows that an MPI launcher (mpirun, mpiexec, or
// srun with PMI / PMIx) started this process.
bool started_by_mpi_launcher();

// This process's communicator, made on first use: MPI's world when an MPI
// launcher started the process, else SingleProcess. Throws an ng::Error
// saying how to get MPI when a launcher started more than one rank of a
// build without it.
Communicator& world();

// How long a collective waits for the other ranks before this rank decides
// that one of them has stopped or failed, reports it and ends every rank:
// NANOGEN_COLLECTIVE_TIMEOUT seconds, 600 by default (an epoch's evaluation
// on one rank must fit).
double collective_timeout_seconds();

}  // namespace ng::dist
