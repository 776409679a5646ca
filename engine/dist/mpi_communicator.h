// The Communicator over MPI (Open MPI in Debian: libopenmpi-dev), for runs
// started by `mpirun -np N nanogen ...`. Built only when CMake finds MPI.
#pragma once

#include <memory>

#include "engine/dist/communicator.h"

namespace ng::dist {

// Initialises MPI (once per process; finalised at exit) and returns its world.
std::unique_ptr<Communicator> make_mpi_communicator();

}  // namespace ng::dist
