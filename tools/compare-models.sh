#!/usr/bin/env bash
# Trains the canonical VAE, GAN and DDPM on the same data with the same
# budget of wall-clock seconds each, evaluates every run with `nanogen eval`
# and puts them side by side with `nanogen compare`.
#
#   tools/compare-models.sh OUTDIR [--budget SECONDS] [--device auto|cpu|cuda]
#                           [--n SAMPLES] [--data SPEC] [--gaussian-vae] [--bin PATH]
#
#   OUTDIR          runs go to OUTDIR/<model>, the page to OUTDIR/report/report.html
#   --budget        seconds of training per model, per-epoch evaluation included (default 600)
#   --n             samples per evaluation (default 10000)
#   --gaussian-vae  also train a VAE with a learned-sigma Gaussian decoder (vae-gaussian),
#                   whose discretised decoder gives the VAE a bits/dim bound
#   --bin           the nanogen binary (default: this checkout's build/bin/nanogen)
# Each step's output goes to OUTDIR/<step>.log as well as the terminal.
set -euo pipefail

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }
[[ ${1:-} == -h || ${1:-} == --help ]] && { usage; exit 0; }
[[ $# -ge 1 && $1 != -* ]] || { usage; exit 2; }
out=$1
shift
# The binary of this checkout by default, wherever the script is started from.
budget=600 device=auto n=10000 data=fashion-mnist gaussian=0 bin=$(cd "$(dirname "$0")/.." && pwd)/build/bin/nanogen
while [[ $# -gt 0 ]]; do
  case $1 in
    --budget) budget=$2; shift 2 ;;
    --device) device=$2; shift 2 ;;
    --n) n=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --gaussian-vae) gaussian=1; shift ;;
    --bin) bin=$2; shift 2 ;;
    *) echo "compare-models: unknown argument '$1'" >&2; usage; exit 2 ;;
  esac
done
mkdir -p "$out"
[[ -x $bin ]] || { echo "compare-models: no nanogen binary at $bin (build it, or pass --bin PATH)" >&2; exit 2; }

step() {  # step NAME ARGS...: runs nanogen ARGS, logging to OUTDIR/NAME.log
  local name=$1
  shift
  echo "== $name: nanogen $*" >&2
  "$bin" "$@" 2>&1 | tee "$out/$name.log"
}

# --epochs is only a ceiling: the budget ends each run (with a checkpoint).
common=(--data "$data" --device "$device" --epochs 100000 --time-limit "$budget")
runs=("$out/vae" "$out/gan")
step train-vae train vae "${common[@]}" --out "$out/vae"
step train-gan train gan "${common[@]}" --out "$out/gan"
if [[ $gaussian == 1 ]]; then
  step train-vae-gaussian train vae "${common[@]}" --likelihood gaussian-learned --out "$out/vae-gaussian"
  runs+=("$out/vae-gaussian")
fi
step train-ddpm train ddpm "${common[@]}" --batch-size 128 --out "$out/ddpm"
runs+=("$out/ddpm")  # last: its evaluation (10,000 samples through the U-Net) takes longest
for run in "${runs[@]}"; do
  step "eval-$(basename "$run")" eval "$run" --n "$n" --device "$device"
done
step compare compare "${runs[@]}" --out "$out/report"
