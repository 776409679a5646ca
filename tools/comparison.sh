#!/usr/bin/env bash
# The comparison of docs/comparison.md, regenerated: every run it trains is
# scored by `nanogen eval` with one yardstick, then tables (comparison.md) and
# figures (*.png) are written under OUT.
#
#   tools/comparison.sh OUT [PART ...]        (default: every part)
#
# Parts:
#   parity        nanogen vs its PyTorch twin, per model and seed (benchmarks/pytorch/parity.sh)
#   gan-losses    the GAN's five losses (WGAN with clipping and with a gradient
#                 penalty) at an equal number of generator steps
#   vae-decoders  Bernoulli, fixed-sigma and learned-sigma Gaussian decoders
#   ddpm-steps    linear and cosine schedules; FID against DDIM steps and ancestral
#   models        VAE, GAN and DDPM at equal epochs and at equal wall time
#   epochs        each model trained LONG_EPOCHS epochs (the first seed): its
#                 samples epoch by epoch, its loss curves, samples beside real images
#   report        tables and figures from whatever runs exist (always run last)
#
# env: SEEDS="0 1 2" N=5000 THREADS=2 DEVICE=cpu GAN_STEPS=400 VAE_EPOCHS=1
#      DDPM_EPOCHS=1 DDPM_UNET="--base-channels 16 --channel-mults 1,2 --attention-res none"
#        (DDPM_UNET="" trains the default U-Net, for a GPU)
#      LONG_EPOCHS=10 LONG_MODELS="vae gan ddpm" (the epochs part)
#      BUDGET=120 (seconds, the models part's equal wall time)
#      DDPM_N=2000 (samples per DDPM evaluation) STEPS_N=300 (per point of the DDIM steps curve)
#      LIMIT=0 (train on the first LIMIT images only, all parts but parity: a quick rehearsal)
#      NANOGEN=build/bin/nanogen PYTHON=/usr/bin/python3 (with PyTorch, for the twins)
# A run whose eval.json exists is kept, so an interrupted comparison continues
# where it stopped; delete a run folder to redo it. Each run's log is RUN.log.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
[[ $# -ge 1 && $1 != -* ]] || { sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
out=$1
shift
parts=("$@")
[[ ${#parts[@]} -gt 0 ]] || parts=(parity gan-losses vae-decoders ddpm-steps models epochs report)
SEEDS=${SEEDS:-0 1 2}
N=${N:-5000}
THREADS=${THREADS:-2}
DEVICE=${DEVICE:-cpu}
GAN_STEPS=${GAN_STEPS:-400}
VAE_EPOCHS=${VAE_EPOCHS:-1}
DDPM_EPOCHS=${DDPM_EPOCHS:-1}
DDPM_UNET=${DDPM_UNET---base-channels 16 --channel-mults 1,2 --attention-res none}
BUDGET=${BUDGET:-120}
DDPM_N=${DDPM_N:-2000}
STEPS_N=${STEPS_N:-300}
NANOGEN=${NANOGEN:-$root/build/bin/nanogen}
PYTHON=${PYTHON:-/usr/bin/python3}
LIMIT=${LIMIT:-0}
LONG_EPOCHS=${LONG_EPOCHS:-10}
LONG_MODELS=${LONG_MODELS:-vae gan ddpm}
[[ -x $NANOGEN ]] || { echo "comparison: no nanogen binary at $NANOGEN (build it, or set NANOGEN)" >&2; exit 2; }
mkdir -p "$out"

# rescore RUN COPY EVAL_ARGS...: COPY is a copy of RUN scored with other eval options.
rescore() {
  local run=$1 copy=$2
  shift 2
  [[ -f $copy/eval.json ]] && return
  rm -rf "$copy"
  cp -r "$run" "$copy"
  rm -f "$copy/eval.json"
  echo "== $copy: nanogen eval $*" >&2
  "$NANOGEN" eval "$copy" --n "$N" --device "$DEVICE" --quiet "$@" > "$copy.log" 2>&1 ||
    { echo "comparison: evaluating $copy failed (see $copy.log)" >&2; return 1; }
}

# fit RUN TRAIN_ARGS...: trains RUN afresh, logging to RUN.log.
fit() {
  local run=$1
  shift
  echo "== $run: nanogen train $*" >&2
  rm -rf "$run"
  "$NANOGEN" train "$@" --limit "$LIMIT" --threads "$THREADS" --device "$DEVICE" --out "$run" --quiet > "$run.log" 2>&1 ||
    { echo "comparison: training $run failed (see $run.log)" >&2; return 1; }
}

# train RUN EVAL_ARGS -- TRAIN_ARGS: trains and evaluates RUN unless its eval.json exists.
train() {
  local run=$1 eval_args=()
  shift
  while [[ $1 != -- ]]; do eval_args+=("$1"); shift; done
  shift
  [[ -f $run/eval.json ]] && return
  fit "$run" "$@"
  "$NANOGEN" eval "$run" --n "$N" --device "$DEVICE" --quiet "${eval_args[@]}" >> "$run.log" 2>&1 ||
    { echo "comparison: evaluating $run failed (see $run.log)" >&2; return 1; }
}

part_parity() {
  MODELS=${MODELS:-vae gan ddpm} SEEDS=$SEEDS N=$N THREADS=$THREADS NANOGEN=$NANOGEN PYTHON=$PYTHON \
    EPOCHS=1 DDPM_ARGS="$DDPM_UNET" DDPM_N=$DDPM_N "$root/benchmarks/pytorch/parity.sh" "$out/parity"
}

# Equal generator steps; the Wasserstein critic takes its 5 steps per G step.
part_gan_losses() {
  local seed
  for seed in $SEEDS; do
    local d=$out/gan-losses common=(gan --max-steps "$GAN_STEPS" --seed "$seed")
    mkdir -p "$d"
    train "$d/minimax_$seed" -- "${common[@]}" --loss minimax
    train "$d/nonsaturating_$seed" -- "${common[@]}" --loss nonsaturating
    train "$d/kl_$seed" -- "${common[@]}" --loss kl
    train "$d/hinge_$seed" -- "${common[@]}" --loss hinge
    train "$d/wgan-clip_$seed" -- "${common[@]}" --loss wasserstein --clip 0.01
    train "$d/wgan-gp_$seed" -- "${common[@]}" --loss wasserstein --gp 10
  done
}

# Three decoders of one VAE (1 epoch each by default).
part_vae_decoders() {
  local seed
  for seed in $SEEDS; do
    local d=$out/vae-decoders common=(vae --epochs "$VAE_EPOCHS" --seed "$seed")
    mkdir -p "$d"
    train "$d/bernoulli_$seed" -- "${common[@]}" --likelihood bernoulli
    train "$d/gaussian-fixed_$seed" -- "${common[@]}" --likelihood gaussian --sigma 0.1
    train "$d/gaussian-learned_$seed" -- "${common[@]}" --likelihood gaussian-learned
    # The recall question: the same Bernoulli VAE scored on its draws
    # x ~ p(x|z) and on its reconstructions of test images, which miss no mode.
    rescore "$d/bernoulli_$seed" "$d/bernoulli-draws_$seed" --vae-output draw
    rescore "$d/bernoulli_$seed" "$d/bernoulli-reconstructions_$seed" --vae-output reconstruction
  done
}

# Both schedules (the first seed), each scored with DDIM at 10 to 250 steps
# and ancestral sampling over all 1000, on STEPS_N samples (a U-Net pass per
# sample and step: on a CPU a few hundred samples; KID, unbiased, is the
# metric to read at small n).
part_ddpm_steps() {
  local seed=${SEEDS%% *} d=$out/ddpm-steps schedule steps
  read -r -a unet <<< "$DDPM_UNET"
  mkdir -p "$d"
  for schedule in linear cosine; do
    local run=$d/$schedule-train_$seed
    # Trained once, not evaluated: each sampler scores a copy (rescore).
    [[ -f $run/checkpoints/last.safetensors ]] ||
      fit "$run" ddpm --epochs "$DDPM_EPOCHS" --seed "$seed" --schedule "$schedule" "${unet[@]}"
    for steps in 10 20 50 100 250; do
      N=$STEPS_N rescore "$run" "$d/$schedule-ddim-${steps}_$seed" --sampler ddim --steps "$steps" --bound-images 0
    done
    N=$STEPS_N rescore "$run" "$d/$schedule-ancestral-1000_$seed" --sampler ancestral --bound-images 0
  done
}

# The three models at equal epochs (the parity's nanogen runs) and at an
# equal budget of BUDGET seconds of training each, per seed.
part_models() {
  local seed
  read -r -a unet <<< "$DDPM_UNET"
  for seed in $SEEDS; do
    local d=$out/models common=(--epochs 100000 --time-limit "$BUDGET" --seed "$seed")
    mkdir -p "$d"
    train "$d/vae_$seed" -- vae "${common[@]}"
    train "$d/gan_$seed" -- gan "${common[@]}"
    N=$DDPM_N train "$d/ddpm_$seed" -- ddpm "${common[@]}" "${unet[@]}"
  done
}

# Each model trained for LONG_EPOCHS epochs: its samples/epoch_strip.png
# shows the same noise decoded after every epoch; eval/nearest.png puts
# samples beside their nearest training images.
part_epochs() {
  local seed=${SEEDS%% *} d=$out/epochs model
  read -r -a unet <<< "$DDPM_UNET"
  mkdir -p "$d"
  for model in $LONG_MODELS; do
    local args=("$model" --epochs "$LONG_EPOCHS" --seed "$seed")
    case $model in
      ddpm) N=$DDPM_N train "$d/ddpm_$seed" -- "${args[@]}" "${unet[@]}" ;;
      vae | gan) train "$d/${model}_$seed" -- "${args[@]}" ;;
      *) echo "comparison: LONG_MODELS takes vae, gan and ddpm, not '$model'" >&2; exit 2 ;;
    esac
  done
}

# Tables from every eval.json, curves drawn by `nanogen plot`, the runs' own
# sample grids copied beside them.
part_report() {
  "$PYTHON" "$root/tools/comparison_report.py" "$out" --nanogen "$NANOGEN"
}

for part in "${parts[@]}"; do
  case $part in
    parity) part_parity ;;
    gan-losses) part_gan_losses ;;
    vae-decoders) part_vae_decoders ;;
    ddpm-steps) part_ddpm_steps ;;
    models) part_models ;;
    epochs) part_epochs ;;
    report) part_report ;;
    *) echo "comparison: unknown part '$part'" >&2; exit 2 ;;
  esac
done
