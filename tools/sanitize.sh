#!/usr/bin/env bash
# The sanitizer job: a CPU-only build with AddressSanitizer and
# UndefinedBehaviorSanitizer, running the cpu-labelled tests. Any report
# (a bad read or write, a use after free, signed overflow, a bad shift or
# cast) stops the test that made it, so the job fails. Warnings are not
# errors here: GCC's flow analysis under the sanitizers' instrumentation
# reports uninitialised members inside the standard library that the normal
# build (where warnings are errors) does not. MPI is left out: its tests run
# under mpirun in the normal job (label mpi), and Open MPI's own memory hooks
# are no business of this job.
# Usage: tools/sanitize.sh [extra ctest args]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${NANOGEN_SANITIZE_BUILD_DIR:-build-sanitize}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNANOGEN_WERROR=OFF -DNANOGEN_CUDA=OFF -DNANOGEN_MPI=OFF \
  -DNANOGEN_SANITIZE=address,undefined
cmake --build "$build" --parallel "$(nproc)"
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
# Leaks are not checked: OpenMP's and OpenBLAS's thread pools, and the
# engine's caches of reusable blocks, live until exit by design.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir "$build" --output-on-failure --parallel "$(nproc)" --timeout 3000 -L cpu "$@"
