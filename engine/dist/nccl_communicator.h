// The collectives of CUDA tensors through NVIDIA's NCCL: GPU to GPU over
// NVLink, PCIe or InfiniBand, with no copy through host memory. One GPU a
// rank. Built when CUDA and nccl.h are found (NANOGEN_WITH_NCCL).
//
// libnccl (218 MB) is not linked: it is opened when first used, so a build
// with NCCL runs where the library is missing and says so only when a
// collective of GPU tensors needs it (then MPI stages them through the host).
//
// The ranks of an NCCL clique find each other through a 128-byte id that
// rank 0 makes and sends to the others over another channel: MPI, in
// mpi_communicator.cpp.
#pragma once

#include <array>
#include <memory>
#include <string>

#include "engine/dist/communicator.h"

namespace ng::dist {

using NcclId = std::array<char, 128>;  // ncclUniqueId's bytes

// True when libnccl.so.2 could be opened and has every function needed;
// else false and `why` says what failed.
bool nccl_loadable(std::string* why = nullptr);

// A new clique's id (rank 0 makes it). Throws when NCCL cannot be loaded.
NcclId new_nccl_id();

// This rank's member of the clique `id` of `world_size` ranks, on CUDA
// device `device`. Its collectives take CUDA tensors on that device only;
// they are queued on nanogen's stream of the device, in order with the
// kernels before and after them, and are waited for with the deadline of
// collective_timeout_seconds().
std::unique_ptr<Communicator> make_nccl_communicator(const NcclId& id, int rank, int world_size, int device);

}  // namespace ng::dist
