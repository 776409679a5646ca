#!/usr/bin/env bash
# Fuzzing nanogen's readers with libFuzzer (clang, with the address and
# undefined-behaviour sanitizers). Each target (tests/fuzz/<target>.cpp)
# starts from its committed corpus, tests/fuzz/corpus/<target>/, and writes
# what it finds under build-fuzz/: new inputs to corpus/<target>/ and any
# crash, leak, out-of-memory or timeout input to crashes/<target>/. A crash
# input, once its bug is fixed, is copied into the committed corpus so that
# the normal test suite replays it (test Fuzz.<target>).
#
# Usage: tools/fuzz.sh [--seconds N] [--jobs J] [target...]
#   --seconds N  how long each target runs (default 600)
#   --jobs J     targets run at once (default: the number of cores)
#   targets      default: all of them
# Prints one line per target: executions, new inputs, crashes.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=600
jobs=$(nproc)
targets=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[[ ${#targets[@]} -gt 0 ]] || targets=(safetensors idx cifar10 image run_config metrics_csv classifier_file)

build=${NANOGEN_FUZZ_BUILD_DIR:-build-fuzz}
CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNANOGEN_WERROR=OFF \
  -DNANOGEN_CUDA=OFF -DNANOGEN_FUZZ=ON -DNANOGEN_SANITIZE=address,undefined,fuzzer-no-link >/dev/null
cmake --build "$build" --parallel "$(nproc)" --target "${targets[@]/#/fuzz_}"

# One thread: libFuzzer measures coverage per input, and the engine's
# OpenMP pool would only add noise (and a second OpenMP runtime: OpenBLAS's).
export OMP_NUM_THREADS=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

run_target() {
  local target=$1 work=$build/corpus/$1 crashes=$build/crashes/$1 log=$build/logs/$1.log
  mkdir -p "$work" "$crashes" "$(dirname "$log")"
  # rss_limit_mb: an input that makes a reader allocate over 2 GB is a
  # finding (a declared size believed before it was checked).
  "$build/bin/fuzz_$target" -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=20 \
    -artifact_prefix="$crashes/" -print_final_stats=1 "$work" "tests/fuzz/corpus/$target" >"$log" 2>&1 || true
  local runs new found
  runs=$(grep -o "stat::number_of_executed_units: *[0-9]*" "$log" | tail -1 | grep -o "[0-9]*$" || echo "?")
  new=$(find "$work" -type f | wc -l)
  found=$(find "$crashes" -type f | wc -l)
  printf '%-16s %10s executions in %ss, %5d new corpus inputs, %d crash inputs (%s)\n' \
    "$target" "$runs" "$seconds" "$new" "$found" "$log"
}

export -f run_target
export build seconds
printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} bash -c 'run_target {}'
