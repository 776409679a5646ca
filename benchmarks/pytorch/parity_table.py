"""The parity table of benchmarks/pytorch/parity.sh: for each model, the
metrics of `nanogen eval` over the seeds of each side as mean +- std, and
whether nanogen's mean lies within two of the PyTorch twin's seed-to-seed
standard deviations of the twin's mean (lower FID and KID are better).

  python3 parity_table.py runs/parity > runs/parity/parity.md"""
import glob
import json
import os
import statistics
import sys

METRICS = [("fid", "FID"), ("kid_mean", "KID x 1000"), ("precision", "precision"), ("recall", "recall"),
           ("classes_covered", "classes covered"), ("bits_per_dim", "bits/dim (bound)")]
CRITERION = ["fid", "kid_mean"]


def runs(folder):
    """{(model, side): [eval.json metrics, one per seed]}"""
    found = {}
    for path in sorted(glob.glob(os.path.join(folder, "*_*_*", "eval.json"))):
        model, side, _seed = os.path.basename(os.path.dirname(path)).rsplit("_", 2)
        with open(path) as f:
            found.setdefault((model, side), []).append(json.load(f)["metrics"])
    return found


def spread(values):
    mean = statistics.fmean(values)
    return mean, (statistics.stdev(values) if len(values) > 1 else 0.0)


def main(folder):
    found = runs(folder)
    for model in sorted({m for m, _ in found}):
        ng, pt = found.get((model, "nanogen"), []), found.get((model, "pytorch"), [])
        print(f"### {model}: nanogen {len(ng)} seeds, PyTorch twin {len(pt)} seeds\n")
        print("| metric | nanogen | PyTorch twin | nanogen within 2 std of the twin |")
        print("|---|---|---|---|")
        for key, name in METRICS:
            # A metric a model does not define (a GAN's bits/dim) is null.
            a, b = [m[key] for m in ng if m.get(key) is not None], [m[key] for m in pt if m.get(key) is not None]
            if not a or not b:
                continue
            (ma, sa), (mb, sb) = spread(a), spread(b)
            verdict = ""
            if key in CRITERION:  # lower is better
                verdict = "yes" if abs(ma - mb) <= 2 * sb else ("no, better" if ma < mb else "no, worse")
            print(f"| {name} | {ma:.3f} +- {sa:.3f} | {mb:.3f} +- {sb:.3f} | {verdict} |")
        print()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/parity")
