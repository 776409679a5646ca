#!/usr/bin/env bash
# Data-parallel training end to end (ctest: Mpi.DataParallelRuns, label mpi),
# on Fashion-MNIST, 2 ranks of 1 thread against 1 process of 1 thread:
#   1. a VAE trained 2 epochs on 2 ranks reaches the test -ELBO of one process
#      with the same global batch within 0.1%: the ranks train on the same
#      examples with the same noise (Generator::set_shard), so the runs differ
#      only by the rounding of the gradients' sum, which training amplifies;
#      gradients sent in buckets during backward (--bucket-mb) or in one
#      all-reduce after it give the same bits; a small DDPM's step losses
#      agree to 1e-4;
#   2. a 2-rank run stopped by --max-steps and resumed ends exactly where an
#      uninterrupted 2-rank run ends (same numbers in metrics.csv);
#   3. rank 0 alone writes: one log line per event, one TensorBoard file, the
#      summary printed once;
#   4. a GAN (batch norm in both networks) trained 3 steps on 2 ranks with
#      --sync-batch-norm has one process's losses to 1e-3; without it, each
#      rank normalises its half batch, and the losses are only finite;
#   5. a --batch-size that does not split over the ranks is refused.
# Usage: data_parallel_runs.sh NANOGEN MPIRUN
set -euo pipefail
nanogen=$1
mpirun=$2
[ -d /usr/share/datasets/fashion-mnist ] || { echo "Debian's dataset-fashion-mnist is not installed: skipped"; exit 0; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMP_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
two_ranks() { "$mpirun" -np 2 --oversubscribe "$nanogen" "$@"; }
fail() { echo "FAILED: $*" >&2; exit 1; }
vae=(train vae --device cpu --limit 1024 --test-limit 500 --batch-size 64 --log-every 4)
# The last epoch row's column `name` of a run's metrics.csv.
last_epoch() { awk -F, -v col="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == col) c = i; next }
                                    $1 == "epoch" { v = $c } END { print v }' "$1/metrics.csv"; }

# 1. two ranks against one process
"$nanogen" "${vae[@]}" --epochs 2 --out "$work/one" > "$work/one.out" 2>&1
two_ranks "${vae[@]}" --epochs 2 --out "$work/two" > "$work/two.out" 2>&1 || { cat "$work/two.out"; fail "2-rank VAE run"; }
one=$(last_epoch "$work/one" test_loss)
two=$(last_epoch "$work/two" test_loss)
echo "test -ELBO: one process $one, two ranks $two"
awk -v a="$one" -v b="$two" 'BEGIN { d = (a - b) / a; if (d < 0) d = -d; exit !(d < 0.001) }' ||
  fail "the 2-rank test -ELBO $two is not within 0.1% of the 1-process $one"
# The gradients' sums, sent in buckets while backward runs (the default) or
# as one message after it, are the same numbers: a sum of two is one rounding.
for mb in 0 0.01; do  # one bucket after backward; a bucket every 10 kB
  two_ranks "${vae[@]}" --epochs 2 --bucket-mb $mb --out "$work/bucket_$mb" > /dev/null 2>&1 || fail "--bucket-mb $mb"
  [ "$(last_epoch "$work/bucket_$mb" test_loss)" = "$two" ] ||
    fail "--bucket-mb $mb ends at $(last_epoch "$work/bucket_$mb" test_loss), the default buckets at $two"
done
ddpm=(train ddpm --device cpu --limit 64 --test-limit 16 --batch-size 8 --max-steps 4 --log-every 1
      --base-channels 8 --channel-mults 1,2 --attention-res none --groups 4 --sample-steps 2)
"$nanogen" "${ddpm[@]}" --out "$work/ddpm_one" > /dev/null 2>&1 || fail "1-process DDPM run"
two_ranks "${ddpm[@]}" --out "$work/ddpm" > /dev/null 2>&1 || fail "2-rank DDPM run"
step_losses() { awk -F, '$1 == "step" { print $4 }' "$1/metrics.csv"; }
paste <(step_losses "$work/ddpm_one") <(step_losses "$work/ddpm") |
  awk '{ n++; d = ($1 - $2) / $1; if (d < 0) d = -d; if (d > 1e-4) bad++ } END { exit !(n == 4 && !bad) }' ||
  fail "the 2-rank DDPM's step losses differ from one process's: $(paste -d' ' <(step_losses "$work/ddpm_one") <(step_losses "$work/ddpm"))"

# 2. stop and resume on two ranks: exactly the uninterrupted run
two_ranks "${vae[@]}" --epochs 2 --max-steps 21 --out "$work/resumed" > /dev/null 2>&1 || fail "2-rank run to step 21"
two_ranks "${vae[@]}" --epochs 2 --resume --out "$work/resumed" > /dev/null 2>&1 || fail "2-rank resume"
resumed=$(last_epoch "$work/resumed" test_loss)
[ "$resumed" = "$two" ] || fail "the resumed 2-rank run ends at $resumed, the uninterrupted one at $two"

# 3. rank 0 alone writes and prints
[ "$(grep -c 'epoch 2:' "$work/two/log.txt")" = 1 ] || fail "log.txt has the epoch line more than once"
[ "$(ls "$work/two/tensorboard" | wc -l)" = 1 ] || fail "more than one TensorBoard file"
[ "$(grep -c '^test -ELBO' "$work/two.out")" = 1 ] || fail "the summary was printed more than once"
grep -q "on each of 2 ranks (mpi)" "$work/two/log.txt" || fail "log.txt does not say the run had 2 ranks"

# 4. the GAN on two ranks, with and without synchronised batch norm
gan=(train gan --device cpu --limit 256 --test-limit 64 --batch-size 32 --max-steps 3 --log-every 1)
"$nanogen" "${gan[@]}" --out "$work/gan_one" > /dev/null 2>&1 || fail "1-process GAN run"
two_ranks "${gan[@]}" --sync-batch-norm --out "$work/gan_sync" > /dev/null 2>&1 || fail "2-rank GAN run, sync batch norm"
two_ranks "${gan[@]}" --out "$work/gan" > /dev/null 2>&1 || fail "2-rank GAN run"
gan_losses() { awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) { if ($i == "d_loss") d = i; if ($i == "g_loss") g = i } }
                        $1 == "step" { print $d; print $g }' "$1/metrics.csv"; }
paste <(gan_losses "$work/gan_one") <(gan_losses "$work/gan_sync") |
  awk '{ n++; d = ($1 - $2) / $1; if (d < 0) d = -d; if (d > 1e-3) bad++ } END { exit !(n == 6 && !bad) }' ||
  fail "the 2-rank GAN with --sync-batch-norm differs from one process: $(paste -d' ' <(gan_losses "$work/gan_one") <(gan_losses "$work/gan_sync"))"
grep -q "batch norm over all ranks" "$work/gan_sync/log.txt" || fail "log.txt does not say batch norm was synchronised"
rows=$(grep -c '^step,' "$work/gan/metrics.csv")
[ "$rows" = 3 ] || fail "gan: $rows step rows in metrics.csv, expected 3"
! grep -qiE 'nan|inf' "$work/gan/metrics.csv" || fail "gan: a loss is not finite"

# 5. a global batch that does not split
if two_ranks train vae --device cpu --batch-size 63 --out "$work/odd" > "$work/odd.out" 2>&1; then fail "--batch-size 63 on 2 ranks ran"; fi
grep -q "does not split evenly over 2 ranks" "$work/odd.out" || { cat "$work/odd.out"; fail "no message for --batch-size 63"; }
echo "data-parallel runs: all checks passed"
