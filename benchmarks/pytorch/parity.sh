#!/usr/bin/env bash
# Quality parity with the PyTorch twins (docs/comparison.md): for each model
# and seed, nanogen trains a run, the twin (benchmarks/pytorch/MODEL.py)
# trains the same number of steps with the same options and writes its
# weights as a run folder configured like nanogen's, and `nanogen eval`
# scores both with one yardstick (the same samples count, classifier
# features and sampler). parity_table.py then writes OUT/parity.md.
#
# Usage: benchmarks/pytorch/parity.sh [OUT]   (default runs/parity)
#   env: MODELS="vae gan ddpm" SEEDS="0 1 2" EPOCHS=1 N=5000 THREADS=2
#        DDPM_ARGS="--base-channels 16 --channel-mults 1,2 --attention-res none"
#        DDPM_N=2000 (samples per DDPM evaluation: 20 DDIM steps each on a CPU)
#        NANOGEN=build/bin/nanogen PYTHON=/usr/bin/python3
# A run whose eval.json exists is kept, so an interrupted sweep continues.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-runs/parity}
MODELS=${MODELS:-vae gan ddpm}
SEEDS=${SEEDS:-0 1 2}
EPOCHS=${EPOCHS:-1}
N=${N:-5000}
THREADS=${THREADS:-2}
DDPM_ARGS=${DDPM_ARGS:---base-channels 16 --channel-mults 1,2 --attention-res none}
DDPM_N=${DDPM_N:-2000}
NANOGEN=${NANOGEN:-$root/build/bin/nanogen}
PYTHON=${PYTHON:-/usr/bin/python3}
mkdir -p "$out"
for model in $MODELS; do
  args=() n=$N
  if [ "$model" = ddpm ]; then
    read -r -a args <<< "$DDPM_ARGS"
    n=$DDPM_N
  fi
  for seed in $SEEDS; do
    ng=$out/${model}_nanogen_$seed
    pt=$out/${model}_pytorch_$seed
    if [ ! -f "$ng/eval.json" ]; then
      echo "== nanogen $model, seed $seed"
      "$NANOGEN" train "$model" --epochs "$EPOCHS" --seed "$seed" --threads "$THREADS" --out "$ng" --quiet \
        "${args[@]}"
      "$NANOGEN" eval "$ng" --n "$n" --quiet > /dev/null
    fi
    if [ ! -f "$pt/eval.json" ]; then
      echo "== pytorch $model, seed $seed"
      "$PYTHON" "$root/benchmarks/pytorch/$model.py" --train --epochs "$EPOCHS" --seed "$seed" --threads "$THREADS" \
        --out "$pt" --like "$ng"
      "$NANOGEN" eval "$pt" --n "$n" --quiet > /dev/null
    fi
  done
done
"$PYTHON" "$root/benchmarks/pytorch/parity_table.py" "$out" | tee "$out/parity.md"
