#!/usr/bin/env bash
# Fuzzing nanogen's readers with libFuzzer (clang, with the address and
# undefined-behaviour sanitizers). Each target (tests/fuzz/<target>.cpp)
# starts from its committed corpus, tests/fuzz/corpus/<target>/, and writes
# what it finds under build-fuzz/: new inputs to corpus/<target>/, and any
# crash, out-of-memory or timeout input to crashes/<target>/ (slow-unit-*
# files there are inputs that took over 10 s, not failures). A crash input,
# once its bug is fixed, is copied into the committed corpus, named for its
# bug, so that the normal test suite replays it (test Fuzz.<target>).
#
# Usage: tools/fuzz.sh [--seconds N] [--jobs J] [--merge] [target...]
#   --seconds N  how long each target runs (default 600)
#   --jobs J     targets run at once (default: the number of cores)
#   --merge      afterwards, add to the committed corpus the inputs found
#                that reach code it does not (libFuzzer's -merge=1)
#   targets      default: all of them
# Prints one line per target; exits 1 when any target found a crash.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=600
jobs=$(nproc)
merge=0
targets=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --merge) merge=1; shift ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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
# Leaks are not findings: the thread pools and caches live until exit.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

run_target() {
  local target=$1 work=$build/corpus/$1 crashes=$build/crashes/$1 log=$build/logs/$1.log
  mkdir -p "$work" "$crashes" "$(dirname "$log")"
  local started=$build/logs/$1.started
  touch "$started"
  # rss_limit_mb / malloc_limit_mb: an input that makes a reader allocate
  # over 2 GB is a finding (a declared size believed before it was checked).
  "$build/bin/fuzz_$target" -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=60 \
    -artifact_prefix="$crashes/" -print_final_stats=1 "$work" "tests/fuzz/corpus/$target" >"$log" 2>&1 || true
  local runs added found slow
  runs=$(grep -o "stat::number_of_executed_units: *[0-9]*" "$log" | tail -1 | grep -o "[0-9]*$" || echo "?")
  added=$(grep -o "stat::new_units_added: *[0-9]*" "$log" | tail -1 | grep -o "[0-9]*$" || echo "?")
  found=$(find "$crashes" -type f -newer "$started" ! -name 'slow-unit-*' | wc -l)
  slow=$(find "$crashes" -type f -newer "$started" -name 'slow-unit-*' | wc -l)
  printf '%-16s %10s executions in %ss, %5s new inputs, %d crashes, %d slow inputs (%s)\n' \
    "$target" "$runs" "$seconds" "$added" "$found" "$slow" "$log"
  [[ $found -eq 0 ]]
}

export -f run_target
export build seconds
status=0
printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} bash -c 'run_target {}' || status=1

if [[ $merge == 1 ]]; then
  for target in "${targets[@]}"; do
    before=$(find "tests/fuzz/corpus/$target" -type f | wc -l)
    "$build/bin/fuzz_$target" -merge=1 "tests/fuzz/corpus/$target" "$build/corpus/$target" \
      >"$build/logs/$target.merge.log" 2>&1
    after=$(find "tests/fuzz/corpus/$target" -type f | wc -l)
    echo "$target: the committed corpus went from $before to $after inputs"
  done
fi
exit $status
