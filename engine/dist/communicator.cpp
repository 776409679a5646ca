#include "engine/dist/communicator.h"

#include <cstdlib>
#include <string>

#include "engine/error.h"

#ifdef NANOGEN_WITH_MPI
#include "engine/dist/mpi_communicator.h"
#endif

namespace ng::dist {

namespace {

// The number of ranks a launcher announced, or 0 when none did.
int launcher_world_size() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"}) {  // Open MPI; MPICH and Slurm's PMI
    const char* v = std::getenv(name);
    if (v != nullptr && *v != '\0') return std::atoi(v);
  }
  return std::getenv("PMIX_RANK") != nullptr ? 1 : 0;  // PMIx (srun --mpi=pmix) names the rank, not the size
}

std::unique_ptr<Communicator> make_world() {
  if (!started_by_mpi_launcher()) return std::make_unique<SingleProcess>();
#ifdef NANOGEN_WITH_MPI
  return make_mpi_communicator();
#else
  NG_CHECK(launcher_world_size() <= 1, "this nanogen was built without MPI, but a launcher started ",
           launcher_world_size(), " ranks of it: install libopenmpi-dev (tools/install-deps.sh does) and rebuild, ",
           "or run one process without mpirun");
  return std::make_unique<SingleProcess>();
#endif
}

}  // namespace

bool started_by_mpi_launcher() { return launcher_world_size() > 0; }

Communicator& world() {
  static const std::unique_ptr<Communicator> the_world = make_world();
  return *the_world;
}

double collective_timeout_seconds() {
  const char* v = std::getenv("NANOGEN_COLLECTIVE_TIMEOUT");
  if (v == nullptr || *v == '\0') return 600.0;
  char* end = nullptr;
  const double seconds = std::strtod(v, &end);
  NG_CHECK(end != v && *end == '\0' && seconds > 0, "NANOGEN_COLLECTIVE_TIMEOUT must be a positive number of ",
           "seconds, got '", v, "'");
  return seconds;
}

}  // namespace ng::dist
