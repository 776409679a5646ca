#!/usr/bin/env bash
# One command for a GPU machine: build for sm_90, run the cuda and cpu test
# suites, compute-sanitizer (memcheck, racecheck) over a few cuda tests, every
# CUDA benchmark and the training-step benchmark on the GPU; write a summary.
#
#   tools/gpu-check.sh OUTDIR [--build-dir DIR] [--skip-build] [--steps LIST] [--jobs N]
#
#   OUTDIR        where the logs and OUTDIR/summary.md go (created)
#   --build-dir   the build folder, relative to the repository (default
#                 build-gpu-check); wiped and configured afresh unless --skip-build
#   --skip-build  reuse the build folder (the build step is then incremental)
#   --steps       comma-separated subset of: build,ptxas,test-cuda,test-cpu,
#                 sanitize,bench (default: all, in that order)
#   --jobs        parallel build jobs (default: nproc)
#
# Every step runs even when an earlier one failed (unless it needs the build
# and the build failed); each has its own log in OUTDIR. The exit status is
# non-zero when any step failed. On a 10-minute command budget, run it in two
# calls: --steps build,ptxas,test-cuda,test-cpu then --skip-build --steps sanitize,bench.
set -u
set -o pipefail

usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; }

[[ ${1:-} == -h || ${1:-} == --help ]] && { usage; exit 0; }
[[ $# -ge 1 && $1 != -* ]] || { usage; exit 2; }
out=$1
shift
build_dir=build-gpu-check
skip_build=0
steps=build,ptxas,test-cuda,test-cpu,sanitize,bench
jobs=$(nproc)
while [[ $# -gt 0 ]]; do
  case $1 in
    --build-dir) build_dir=$2; shift 2 ;;
    --skip-build) skip_build=1; shift ;;
    --steps) steps=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "gpu-check: unknown argument '$1'" >&2; usage; exit 2 ;;
  esac
done

mkdir -p "$out" || exit 2
out=$(cd "$out" && pwd)
cd "$(dirname "$0")/.."
bin=$build_dir/bin
export PATH=$PATH:/usr/local/cuda/bin

# ---- bookkeeping: one row per step ------------------------------------------
declare -a rows=()
failures=0
record() {  # name status seconds log note
  rows+=("| $1 | $2 | $3 | ${4:+\`$(basename "$4")\`} | ${5:-} |")
  [[ $2 == FAIL ]] && failures=$((failures + 1))
  echo "gpu-check: $1: $2 (${3}s)${5:+ - $5}" >&2
}
# run_step NAME LOG CMD...: runs CMD with stdout and stderr to LOG.
run_step() {
  local name=$1 log=$2
  shift 2
  local start=$SECONDS status=PASS
  echo "gpu-check: $name ..." >&2
  { echo "\$ $*"; "$@"; } >"$log" 2>&1 || status=FAIL
  record "$name" "$status" $((SECONDS - start)) "$log"
  [[ $status == PASS ]]
}
wants() { [[ ,$steps, == *,$1,* ]]; }

# ---- the machine -------------------------------------------------------------
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (with local changes)')"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1 || echo "nvidia-smi failed"
  nvcc --version 2>&1 | tail -1
} >"$out/machine.txt"
gpu_visible=1
nvidia-smi -L >/dev/null 2>&1 || gpu_visible=0
[[ $gpu_visible == 1 ]] || record "gpu visible" FAIL 0 "$out/machine.txt" "nvidia-smi sees no GPU: cuda tests would only skip"

# ---- build -------------------------------------------------------------------
build_ok=1
if wants build; then
  if [[ $skip_build == 0 ]]; then
    rm -rf "$build_dir"
    run_step configure "$out/configure.log" cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DNANOGEN_CUDA=ON -DNANOGEN_CUDA_ARCHS=90 -DNANOGEN_WERROR=ON || build_ok=0
  fi
  if [[ $build_ok == 1 ]]; then
    run_step build "$out/build.log" cmake --build "$build_dir" --parallel "$jobs" -- -k 0 || build_ok=0
  fi
fi
[[ -d $bin ]] || build_ok=0

# ---- the -Xptxas -v report: registers, stack and spills of every kernel --------
if wants ptxas && [[ -d $build_dir ]]; then
  start=$SECONDS
  report=$out/build.log
  if ! grep -q "ptxas info" "$report" 2>/dev/null; then
    # No build log with ptxas lines (--skip-build): recompile the kernels.
    find "$build_dir" -path '*nanogen_kernels.dir*' -name '*.cu.o' -delete
    cmake --build "$build_dir" --target nanogen_kernels -v >"$out/ptxas-build.log" 2>&1
    report=$out/ptxas-build.log
  fi
  demangle() { if command -v c++filt >/dev/null; then c++filt; else cat; fi; }
  {
    echo "# -Xptxas -v, one block per kernel (sm_90)"
    grep -E "ptxas info|bytes stack frame" "$report" | grep -v "Compile time" | sed -E "s/.*Compiling entry function '([^']+)'.*/\n\1/" | demangle
  } >"$out/ptxas.txt"
  spills=$(grep -E "bytes spill (stores|loads)" "$report" | grep -vc " 0 bytes spill stores, 0 bytes spill loads")
  kernels=$(grep -c "Compiling entry function" "$report")
  if [[ $kernels -eq 0 ]]; then
    record ptxas FAIL $((SECONDS - start)) "$out/ptxas.txt" "no ptxas output found"
  elif [[ $spills -gt 0 ]]; then
    record ptxas FAIL $((SECONDS - start)) "$out/ptxas.txt" "$spills of $kernels kernels spill registers"
  else
    record ptxas PASS $((SECONDS - start)) "$out/ptxas.txt" "$kernels kernels, no spills"
  fi
fi

# ---- the test suites ---------------------------------------------------------------
# A cuda test that skips on a GPU machine is a failure: it means the GPU was
# not visible to the test.
ctest_suite() {  # label
  local label=$1 log=$out/ctest-$1.log start=$SECONDS status=PASS note
  ctest --test-dir "$build_dir" -L "^$label\$" --output-on-failure --timeout 1500 --parallel "$jobs" \
    --output-junit "$out/ctest-$label.xml" >"$log" 2>&1 || status=FAIL
  note=$(grep -E "tests passed|tests failed" "$log" | tail -1)
  local skipped
  skipped=$(grep -c "\*\*\*Skipped" "$log")
  if [[ $label == cuda && $skipped -gt 0 ]]; then
    status=FAIL
    note="$note; $skipped skipped"
  fi
  record "ctest -L $label" "$status" $((SECONDS - start)) "$log" "$note"
}
if [[ $build_ok == 1 ]]; then
  wants test-cuda && ctest_suite cuda
  wants test-cpu && ctest_suite cpu
elif wants test-cuda || wants test-cpu; then
  record "ctest" FAIL 0 "" "not run: the build failed"
fi

# ---- compute-sanitizer over a few tests of each cuda binary -------------------------
# Known binaries get hand-picked filters (kernels with tails, misaligned views,
# multi-tensor launches); any other test_cuda_* binary gets its first two tests.
declare -A sanitize_filter=(
  [test_cuda_pointwise]="CudaPointwise.UnaryOpsMatchTheCpu:CudaPointwise.BinaryOpsBroadcastAndStrides"
  [test_cuda_random]="CudaRandom.KernelsWriteEveryElementAlignedOrNot:CudaRandom.BernoulliRejects*"
  [test_cuda_fused]="CudaFused.ReparamKernelsMatchTheCpu:CudaAdam.MultiTensor*"
)
if wants sanitize && [[ $build_ok == 1 ]]; then
  sanitizer=$(command -v compute-sanitizer || true)
  if [[ -z $sanitizer ]]; then
    record "compute-sanitizer" FAIL 0 "" "compute-sanitizer not found (PATH, /usr/local/cuda/bin)"
  else
    for exe in "$bin"/test_cuda_*; do
      [[ -x $exe ]] || continue
      name=$(basename "$exe")
      filter=${sanitize_filter[$name]:-}
      if [[ -z $filter ]]; then
        filter=$("$exe" --gtest_list_tests 2>/dev/null | awk '/^[^ ]/ {suite=$1} /^  / {print suite $1}' | head -2 |
          paste -sd:)
      fi
      for tool in memcheck racecheck; do
        run_step "$tool $name" "$out/sanitize-$tool-$name.log" timeout 900 "$sanitizer" --tool "$tool" \
          --error-exitcode 1 "$exe" --gtest_filter="$filter"
      done
    done
  fi
fi

# ---- benchmarks: every bench_ built from benchmarks/cuda, and the training step ------
declare -a bench_logs=()
if wants bench && [[ $build_ok == 1 ]]; then
  for source in benchmarks/cuda/*.cpp; do
    [[ -e $source ]] || continue
    name=bench_cuda_$(basename "$source" .cpp)
    if [[ ! -x $bin/$name ]]; then
      record "$name" FAIL 0 "" "not built"
      continue
    fi
    run_step "$name" "$out/$name.log" timeout 900 "$bin/$name"
    bench_logs+=("$out/$name.log")
  done
  pytorch=--no-pytorch
  python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" >/dev/null 2>&1 && pytorch=
  run_step "bench_train_step --device cuda" "$out/bench_train_step.log" timeout 900 "$bin/bench_train_step" \
    --device cuda --batch 64 --steps 30 $pytorch
  bench_logs+=("$out/bench_train_step.log")
fi

# ---- summary -------------------------------------------------------------------------------
{
  echo "# nanogen GPU check"
  echo
  echo '```'
  cat "$out/machine.txt"
  echo '```'
  echo
  echo "| step | status | seconds | log | note |"
  echo "| --- | --- | --- | --- | --- |"
  printf '%s\n' "${rows[@]}"
  echo
  if [[ -s $out/ptxas.txt ]]; then
    echo "## Kernels with spills or a stack frame (-Xptxas -v)"
    echo
    echo '```'
    grep -B1 -E "[1-9][0-9]* bytes (stack frame|spill)" "$out/ptxas.txt" | grep -v "^--$" || echo "(none)"
    echo '```'
    echo
  fi
  for log in "${bench_logs[@]}"; do
    echo "## $(basename "$log" .log)"
    echo
    echo '```'
    grep -v '^\$ ' "$log"
    echo '```'
    echo
  done
  if [[ $failures -gt 0 ]]; then
    echo "**$failures step(s) failed.**"
  else
    echo "**All steps passed.**"
  fi
} >"$out/summary.md"

echo "gpu-check: summary in $out/summary.md ($failures failed)" >&2
[[ $failures -eq 0 ]]
