#!/usr/bin/env bash
# The GPU check, in three parts that each fit one device call (under 6 minutes
# on a cold machine): it runs the prebuilt bundle of tools/gpu-bundle.sh, so
# nothing is built on the GPU machine.
#
#   tools/gpu-check.sh tests|bench|compiled [--dry-run] [--bundle FILE] OUTDIR
#
#   tests      preflight (driver, libraries, PyTorch), every `cuda` test, and
#              compute-sanitizer memcheck, racecheck and initcheck on one test
#              of each kernel family
#   bench      preflight, the kernel tables against cuDNN / cuBLAS / cuRAND,
#              and the training-step race at batch 128 against the PyTorch at
#              `python3`, with TF32 off and on
#   compiled   preflight and the race in TF32 once more, with PyTorch's time
#              through torch.compile beside its eager one (compiling the three
#              models takes minutes, so it is a part of its own)
#   --dry-run  on a machine without a GPU: the same steps as far as they go
#              (the tests skip, the benchmarks list their rows, the sanitizer
#              filters are matched against the test list); CI runs this
#   --bundle   the bundle (default .gpu-bundle/nanogen-gpu.tar.xz)
#
# OUTDIR gets at most 8 files: summary.md, logs.tar.gz (every log) and, for
# bench, one table per benchmark. Every step runs under its own timeout,
# chosen so that the whole part ends within its 6 minutes; the exit status is
# non-zero when any step failed.
set -u
set -o pipefail

usage() { sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; }
[[ ${1:-} == -h || ${1:-} == --help ]] && { usage; exit 0; }
part=${1:-}
[[ $part == tests || $part == bench || $part == compiled ]] || { usage >&2; exit 2; }
shift
dry_run=0
bundle=.gpu-bundle/nanogen-gpu.tar.xz
out=
while [[ $# -gt 0 ]]; do
  case $1 in
    --dry-run) dry_run=1; shift ;;
    --bundle) [[ $# -ge 2 ]] || { usage >&2; exit 2; }; bundle=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "gpu-check: unknown option '$1'" >&2; usage >&2; exit 2 ;;
    *) out=$1; shift ;;
  esac
done
[[ -n $out ]] || { usage >&2; exit 2; }
# Paths are the caller's; the default bundle is the repository's.
[[ $bundle == .gpu-bundle/* && ! -f $bundle ]] && bundle=$(dirname "$0")/../$bundle
[[ -f $bundle ]] || { echo "gpu-check: no bundle at $bundle (make it with tools/gpu-bundle.sh)" >&2; exit 2; }
mkdir -p "$out" || exit 2
out=$(cd "$out" && pwd)
bundle=$(cd "$(dirname "$bundle")" && pwd)/$(basename "$bundle")
cd "$(dirname "$0")/.."
began=$SECONDS
# Every step ends by this time, so the part fits its 6 minutes with room for
# the preflight and for packing the logs.
deadline=$((began + 330))

work=$(mktemp -d "${TMPDIR:-/tmp}/nanogen-gpu-check.XXXXXX")
trap 'rm -rf "$work"' EXIT
logs=$work/logs
mkdir -p "$logs"
tar -C "$work" -xJf "$bundle" 2>"$logs/unpack.log" ||
  python3 -c "import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])" "$bundle" "$work" ||
  { echo "gpu-check: could not unpack $bundle" >&2; exit 2; }
root=$work/nanogen-gpu
bin=$root/bin

# ---- what comes back: summary.md, logs.tar.gz and the tables (at most 8 files) -----------
# summary.md and the tables are rewritten after every step, so a part cut
# short still returns what it finished.
write_summary() {
  local table
  {
    echo "# nanogen GPU check: $part$([[ $dry_run == 1 ]] && echo ' (dry run)')"
    echo
    echo '```'
    cat "$logs/machine.txt"
    echo '```'
    echo
    echo "| step | status | seconds | note |"
    echo "| --- | --- | --- | --- |"
    printf '%s\n' "${rows[@]}"
    echo
    for table in "${tables[@]}"; do
      [[ -f $table ]] || continue
      echo "## $(basename "$table" .txt)"
      echo
      echo '```'
      grep -v '^\$ ' "$table" | tail -n 60
      echo '```'
      echo
    done
    echo "$failures step(s) failed; $((SECONDS - began)) s in all."
  } >"$out/summary.md"
  for table in "${tables[@]}"; do [[ -f $table ]] && cp "$table" "$out/"; done
}

# ---- bookkeeping: one row per step -------------------------------------------------
declare -a rows=()
declare -a tables=()
failures=0
record() {  # name status seconds note
  rows+=("| $1 | $2 | $3 | ${4:-} |")
  [[ $2 == FAIL || $2 == TIMEOUT ]] && failures=$((failures + 1))
  echo "gpu-check: $1: $2 (${3}s)${4:+ - $4}" >&2
  [[ -f $logs/machine.txt ]] && write_summary
  return 0
}
# step NAME SECONDS LOG CMD...: runs CMD under a timeout (cut to what is
# left before the deadline), output to LOG.
step() {
  local name=$1 limit=$2 log=$3 start=$SECONDS status=PASS code=0
  shift 3
  ((limit > deadline - SECONDS - 5)) && limit=$((deadline - SECONDS - 5))
  if ((limit < 5)); then
    record "$name" TIMEOUT 0 "not run: the part's 6 minutes are spent"
    return 1
  fi
  echo "gpu-check: $name ..." >&2
  { echo "\$ $*"; timeout --kill-after=3 "$limit" "$@"; } >"$log" 2>&1 || code=$?
  ((code == 124 || code == 137)) && status=TIMEOUT
  ((code != 0 && code != 124 && code != 137)) && status=FAIL
  record "$name" "$status" $((SECONDS - start)) "${step_note:-}$([[ $status == TIMEOUT ]] && echo "over ${limit}s")"
  step_note=
  [[ $status == PASS ]]
}
step_note=

# ---- preflight: the machine, the libraries, PyTorch ------------------------------------
# The CUDA libraries too large to carry are found on the GPU machine: in the
# toolkit or in the pip packages beside PyTorch.
find_library_dirs() {
  local dirs=() candidates=(/usr/local/cuda/lib64 /usr/local/cuda/lib /usr/lib/x86_64-linux-gnu)
  local site
  for site in $(timeout 30 python3 -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null); do
    [[ -d $site/nvidia ]] && while IFS= read -r d; do candidates+=("$d"); done < <(find "$site/nvidia" -name lib -type d)
  done
  local lib dir
  for lib in libcublas.so.13 libcublasLt.so.13 libcurand.so.10 libcudnn.so.9; do
    for dir in "${candidates[@]}"; do
      if [[ -e $dir/$lib ]]; then
        [[ " ${dirs[*]} " == *" $dir "* ]] || dirs+=("$dir")
        break
      fi
    done
  done
  (IFS=:; echo "${dirs[*]}")
}
library_dirs=$(find_library_dirs)
export LD_LIBRARY_PATH=$root/lib${library_dirs:+:$library_dirs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export PATH=$PATH:/usr/local/cuda/bin
# The Python with PyTorch (the GPU machine's python3; Debian's here), found
# with one import each, which also gives the version line of machine.txt.
python=python3
has_torch=0
torch_info="pytorch: not importable by python3 or /usr/bin/python3"
for candidate in python3 /usr/bin/python3; do
  if info=$(timeout 60 "$candidate" -c "import torch; print('pytorch', torch.__version__, 'cuda',
      torch.cuda.is_available(), 'cudnn', torch.backends.cudnn.version())" 2>/dev/null); then
    python=$candidate has_torch=1 torch_info=$info
    break
  fi
done

gpu=1
timeout 20 nvidia-smi -L >/dev/null 2>&1 || gpu=0
{
  echo "part: $part$([[ $dry_run == 1 ]] && echo ' (dry run)')"
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "checkout: $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
  sed 's/^/bundle /' "$root/MANIFEST"
  if [[ $gpu == 1 ]]; then
    timeout 20 nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.sm --format=csv
  else
    echo "GPU: none visible (nvidia-smi -L failed)"
  fi
  echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
  echo "$torch_info"
} >"$logs/machine.txt" 2>&1
if [[ $gpu == 0 && $dry_run == 0 ]]; then
  record "GPU visible" FAIL 0 "nvidia-smi sees no GPU: use --dry-run on a machine without one"
fi
unresolved=$(for elf in "$bin"/* "$root"/lib/*.so*; do ldd "$elf" | grep "not found" | sed "s|^|$(basename "$elf"): |"; done)
if [[ -n $unresolved ]]; then
  echo "$unresolved" >"$logs/ldd.log"
  record "libraries" FAIL 0 "not found: $(echo "$unresolved" | awk '{print $2}' | sort -u | paste -sd' ')"
else
  record "libraries" PASS 0 "every binary's libraries resolve"
fi
runnable=$((gpu == 1 || dry_run == 1))

# ---- tests: the cuda suite and compute-sanitizer ------------------------------------------
# One short test per kernel family, for the sanitizers (they slow a test by
# 10-100x). The dry run checks that each still names exactly one test.
sanitized=(
  CudaConv.FusedActivationEpilogue
  CudaFused.DiffusionKernelsMatchTheCpu
  CudaFused.TheDdpmStepsDeviceSideMatchesTheCpu
  CudaAdam.MultiTensorIsBitIdenticalAfterSeveralSteps
  CudaClip.ThreeLaunchClipMatchesTheHostRule
  CudaMatmul.TransposedRightOperandSmallK
  CudaNorm.GroupNormAndLayerNormForwardBackward
  CudaNorm.GroupNormSiluMatchesTheCpuTwinAndTheGpuComposite
  CudaPointwise.BinaryOpsBroadcastAndStrides
  CudaPool.AvgPoolForwardAndBackwardMatchTheCpu
  CudaRandom.KernelsWriteEveryElementAlignedOrNot
  CudaReduce.SumMaxMinMatchTheCpuOnAwkwardShapesAndLayouts
  CudaSoftmax.KernelsMatchTheCpuOnEveryLayout
)
run_tests() {
  local log=$logs/test_cuda.log
  local total skipped
  total=$("$bin/test_cuda" --gtest_list_tests | grep -c '^  ')
  step_note="$total tests; "
  if step "test_cuda" 150 "$log" "$bin/test_cuda" --gtest_output="xml:$logs/test_cuda.xml"; then :; fi
  skipped=$(grep -c '^\[  SKIPPED \] [A-Za-z].* ([0-9]* ms)$' "$log")
  [[ $dry_run == 1 ]] && rows[-1]="${rows[-1]% |} $skipped skipped (no GPU) |"
  if [[ $dry_run == 0 && $skipped -gt 0 ]]; then
    record "test_cuda skips" FAIL 0 "$skipped tests skipped on a GPU machine: the GPU was not visible to them"
  fi

  "$bin/test_cuda" --gtest_list_tests | awk '/^[^ ]/ {suite=$1} /^  / {print suite $1}' >"$logs/test_list.txt"
  local t missing=()
  for t in "${sanitized[@]}"; do grep -qx "$t" "$logs/test_list.txt" || missing+=("$t"); done
  if ((${#missing[@]})); then
    record "sanitizer filter" FAIL 0 "no such test: ${missing[*]}"
    return
  fi
  local filter tool
  filter=$(IFS=:; echo "${sanitized[*]}")
  for tool in memcheck racecheck initcheck; do
    local cmd=(compute-sanitizer --tool "$tool" --error-exitcode 1 "$bin/test_cuda" --gtest_filter="$filter")
    if [[ $dry_run == 1 ]]; then
      echo "${cmd[*]}" >>"$logs/sanitizer-plan.txt"
      record "compute-sanitizer $tool" SKIP 0 "dry run: ${#sanitized[@]} tests, one per family"
    elif ! command -v compute-sanitizer >/dev/null; then
      record "compute-sanitizer $tool" FAIL 0 "compute-sanitizer not found"
    else
      step "compute-sanitizer $tool" 60 "$logs/sanitize-$tool.log" "${cmd[@]}"
    fi
  done
}

# ---- bench: the kernel tables and the training-step race --------------------------------
run_bench() {
  local name limit
  for name in conv matmul norm_reduce fused; do
    case $name in conv) limit=95 ;; matmul) limit=45 ;; *) limit=25 ;; esac
    local exe=$bin/bench_cuda_$name table=$work/bench_$name.txt
    if [[ $dry_run == 1 ]]; then
      step "bench_cuda_$name --list" 20 "$table" "$exe" --list
    else
      # conv: the model shapes (the large ones would not fit the 6 minutes)
      step "bench_cuda_$name" "$limit" "$table" "$exe" $([[ $name == conv ]] && echo --no-large)
    fi
    tables+=("$table")
  done
  # The race: both engines in strict fp32, then both with TF32 tensor cores
  # (PyTorch's default for convolutions; ours for matmul and the convolutions'
  # forward and input gradient). The CPU of a dry run has only fp32.
  local race=$work/bench_train_step.txt args
  if [[ $dry_run == 1 ]]; then
    args=(--device cpu --batch 4 --steps 2 --model vae)
  else
    args=(--device cuda --batch 128 --steps 30)
  fi
  if [[ $has_torch == 0 ]]; then
    step_note="no PyTorch found: nanogen alone; "
    args+=(--no-pytorch)
  fi
  {
    step "bench_train_step --precision fp32" 75 "$race.off" "$bin/bench_train_step" "${args[@]}" --python "$python" \
      --scripts "$root/pytorch" --precision fp32
    [[ $dry_run == 1 || " ${args[*]} " == *" --no-pytorch "* ]] ||
      step "bench_train_step --precision tf32" 55 "$race.on" "$bin/bench_train_step" "${args[@]}" --python "$python" \
        --scripts "$root/pytorch" --precision tf32
  }
  cat "$race".* >"$race" 2>/dev/null
  rm -f "$race".*
  tables+=("$race")
}

# ---- compiled: the race against torch.compile ----------------------------------------
run_compiled() {
  local race=$work/bench_train_step_compiled.txt args
  if [[ $dry_run == 1 ]]; then
    args=(--device cpu --batch 4 --steps 2 --precision fp32)
  else
    args=(--device cuda --batch 128 --steps 30 --precision tf32)
  fi
  if [[ $has_torch == 0 ]]; then
    step_note="no PyTorch found: nanogen alone; "
    args+=(--no-pytorch)
  fi
  # A step per model, so that a compile that runs long costs only its own row.
  local model limit models=(vae gan ddpm)
  [[ $dry_run == 1 ]] && models=(vae)
  for model in "${models[@]}"; do
    case $model in ddpm) limit=150 ;; *) limit=80 ;; esac
    step "bench_train_step --torch-compile --model $model" "$limit" "$race.$model" "$bin/bench_train_step" \
      "${args[@]}" --model "$model" --python "$python" --scripts "$root/pytorch" --torch-compile
  done
  cat "$race".* >"$race" 2>/dev/null
  rm -f "$race".*
  tables+=("$race")
}

if [[ $runnable == 1 ]]; then
  case $part in
    tests) run_tests ;;
    bench) run_bench ;;
    compiled) run_compiled ;;
  esac
fi

write_summary
for table in "${tables[@]}"; do
  [[ -f $out/$(basename "$table") ]] || { echo "gpu-check: table $(basename "$table") is missing" >&2; failures=$((failures + 1)); }
done
cp "${tables[@]}" "$logs/" 2>/dev/null
tar -C "$work" -czf "$out/logs.tar.gz" logs
# A GPU run brings back at most 8 files.
returned=$((2 + ${#tables[@]}))
if ((returned > 8)); then
  echo "gpu-check: this part writes $returned files; a GPU run brings back at most 8" >&2
  failures=$((failures + 1))
fi
echo "gpu-check: $part: $failures failed, $((SECONDS - began)) s; summary in $out/summary.md" >&2
[[ $failures -eq 0 ]]
