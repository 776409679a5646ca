#!/usr/bin/env bash
# Configures, builds (warnings are errors) and runs the whole test suite.
# On a machine without a GPU the `cuda` tests skip with a reason.
# Usage: tools/test.sh [extra ctest args, e.g. -L cpu]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${NANOGEN_BUILD_DIR:-build}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DNANOGEN_WERROR=ON
cmake --build "$build" --parallel "$(nproc)"
# OpenMP threads that spin while waiting starve each other when CTest runs two
# test binaries at once on a small machine; passive waiting keeps them fair.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
ctest --test-dir "$build" --output-on-failure --parallel "$(nproc)" --timeout 1500 "$@"
