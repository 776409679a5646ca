#!/usr/bin/env bash
# Configures, builds (warnings are errors) and runs the whole test suite.
# On a machine without a GPU the `cuda` tests skip with a reason.
# Usage: tools/test.sh [extra ctest args, e.g. -L cpu]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${NANOGEN_BUILD_DIR:-build}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DNANOGEN_WERROR=ON
cmake --build "$build" --parallel "$(nproc)"
ctest --test-dir "$build" --output-on-failure --parallel "$(nproc)" --timeout 1500 "$@"
