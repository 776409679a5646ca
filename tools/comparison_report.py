"""The tables and figures of tools/comparison.sh, from the runs under OUT:
OUT/comparison.md (markdown tables, mean +- std over seeds) and OUT/figures/
(curves drawn by `nanogen plot`, sample grids copied from the runs).

  python3 tools/comparison_report.py OUT [--nanogen build/bin/nanogen]

Runs are folders OUT/<part>/<variant>_<seed> (OUT/parity/<model>_<side>_<seed>),
each with the eval.json `nanogen eval` wrote; a part without runs is left out."""
import argparse
import contextlib
import csv
import glob
import io
import json
import math
import os
import shutil
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks", "pytorch"))
import parity_table  # noqa: E402

QUALITY = [("fid", "FID", 1), ("kid_mean", "KID x 1000", 1), ("precision", "precision", 3), ("recall", "recall", 3),
           ("classes_covered", "classes", 1)]


# The order of the rows: the order in which tools/comparison.sh trains them.
ORDER = ["minimax", "nonsaturating", "kl", "hinge", "wgan-clip", "wgan-gp", "bernoulli", "bernoulli-draws",
         "bernoulli-reconstructions", "gaussian-fixed", "gaussian-learned", "vae", "gan", "ddpm"]


def variants(folder):
    """{variant: [run folder, one per seed]} of OUT/<part>/<variant>_<seed> with an eval.json, in ORDER."""
    found = {}
    for path in sorted(glob.glob(os.path.join(folder, "*_*", "eval.json"))):
        run = os.path.dirname(path)
        found.setdefault(os.path.basename(run).rsplit("_", 1)[0], []).append(run)
    rank = {name: i for i, name in enumerate(ORDER)}
    return dict(sorted(found.items(), key=lambda item: (rank.get(item[0], len(ORDER)), item[0])))


def load_eval(run):
    with open(os.path.join(run, "eval.json")) as f:
        return json.load(f)


def metrics_rows(run, kind):
    """The rows of `kind` of RUN/metrics.csv, as {column: float} of the non-empty fields."""
    with open(os.path.join(run, "metrics.csv")) as f:
        return [{k: float(v) for k, v in row.items() if k != "kind" and v not in ("", None)}
                for row in csv.DictReader(f) if row["kind"] == kind]


def mean_std(values, digits):
    values = [v for v in values if v is not None]
    if not values:
        return "n/a"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    mean, std = parity_table.spread(values)
    return f"{mean:.{digits}f} +- {std:.{digits}f}"


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def quality_cells(evals):
    """The QUALITY columns of eval.json metrics, one per seed."""
    return [mean_std([e[key] for e in evals], digits) for key, _, digits in QUALITY]


def plot(nanogen, sources, labels, column, out, title, *extra):
    """`nanogen plot`: a line per source (a run folder or a CSV file like metrics.csv)."""
    args = [nanogen, "plot", *sources, "--y", column, "--labels", ",".join(labels), "--title", title, "--out", out]
    subprocess.run(args + list(extra), check=True, stdout=subprocess.DEVNULL)


def copy_figure(src, figures, name):
    if os.path.exists(src):
        shutil.copyfile(src, os.path.join(figures, name))
        return f"![{name}](figures/{name})"
    return ""


def last_grid(run, prefix):
    grids = sorted(glob.glob(os.path.join(run, "samples", f"{prefix}_[0-9]*.png")))
    return grids[-1] if grids else ""


def parity_section(out):
    folder = os.path.join(out, "parity")
    if not os.path.isdir(folder):
        return ""
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        parity_table.main(folder)
    return "## Parity: nanogen and its PyTorch twin\n\n" + text.getvalue()


def gan_losses_section(out, nanogen, figures):
    found = variants(os.path.join(out, "gan-losses"))
    if not found:
        return ""
    rows = []
    for loss, runs in found.items():
        steps = [metrics_rows(r, "step") for r in runs]
        last = [s[-1] for s in steps]
        evals = [load_eval(r) for r in runs]
        # Failed (collapsed, or never learned): the samples cover at most 3 of
        # the 10 classes, or hardly any real image has a sample near it.
        # Diverged: a loss went non-finite.
        collapsed = sum(e["metrics"]["classes_covered"] <= 3 or e["metrics"]["recall"] < 0.02 for e in evals)
        diverged = sum(any(not math.isfinite(row.get(c, 0.0)) for row in s for c in ("d_loss", "g_loss"))
                       for s in steps)
        rows.append([loss, *quality_cells([e["metrics"] for e in evals]),
                     mean_std([row.get("d_real") for row in last], 3), mean_std([row.get("d_fake") for row in last], 3),
                     mean_std([statistics.median(x["g_grad_norm"] for x in s if "g_grad_norm" in x) for s in steps], 2),
                     mean_std([e["costs"]["train_time_s"] for e in evals], 0),
                     f"{collapsed} of {len(runs)}", f"{diverged} of {len(runs)}"])
    text = "## The GAN's losses at an equal number of generator steps\n\n"
    text += table(["loss", *[name for _, name, _ in QUALITY], "last D(x)", "last D(G(z))", "median G grad norm",
                   "train s", "failed", "diverged"], rows)
    first = {loss: runs[0] for loss, runs in found.items()}
    # D's outputs are probabilities under the logistic losses and unbounded
    # critic values under hinge and Wasserstein: one chart each.
    logistic = [loss for loss in first if loss in ("minimax", "nonsaturating", "kl")]
    critic = [loss for loss in first if loss not in logistic]
    charts = [("d_outputs_logistic", logistic, "d_real,d_fake", "D(x) and D(G(z)) per step, logistic losses", []),
              ("d_outputs_critic", critic, "d_real,d_fake", "f(x) and f(G(z)) per step, critic losses", []),
              ("g_grad_norm", list(first), "g_grad_norm", "generator gradient norm per step", ["--log-y"])]
    for name, losses, columns, title, extra in charts:
        if losses:
            plot(nanogen, [first[loss] for loss in losses], losses, columns, os.path.join(figures, f"gan_losses_{name}.png"),
                 title, *extra)
            text += f"\n![{name}](figures/gan_losses_{name}.png)\n"
    text += "\nSamples of the first seed, a grid per loss:\n\n"
    for loss, run in first.items():
        text += f"{loss}: " + copy_figure(last_grid(run, "epoch"), figures, f"gan_losses_{loss}.png") + "\n\n"
    return text


def vae_decoders_section(out, figures):
    found = variants(os.path.join(out, "vae-decoders"))
    if not found:
        return ""
    rows = []
    for decoder, runs in found.items():
        epochs = [metrics_rows(r, "epoch")[-1] for r in runs]
        evals = [load_eval(r)["metrics"] for r in runs]
        rows.append([decoder, *quality_cells(evals), mean_std([e.get("test_loss") for e in epochs], 2),
                     mean_std([e.get("test_recon") for e in epochs], 2), mean_std([e.get("test_kl") for e in epochs], 2),
                     mean_std([e["bits_per_dim"] for e in evals], 3)])
    text = "## The VAE's decoders\n\n"
    text += table(["decoder", *[name for _, name, _ in QUALITY], "test -ELBO (nats)", "reconstruction", "KL",
                   "bits/dim"], rows)
    text += ("\nThe first seed of each: samples, reconstructions (originals above), a latent interpolation; "
             "for a run scored on other outputs, the first 64 it scored.\n\n")
    for decoder, runs in found.items():
        run = runs[0]
        if load_eval(run)["sampler"] is not None:  # rescored with --vae-output: its training grids are another row's
            figures_shown = [copy_figure(os.path.join(run, "eval", "samples.png"), figures, f"vae_{decoder}_scored.png")]
        else:
            figures_shown = [copy_figure(last_grid(run, prefix), figures, f"vae_{decoder}_{prefix}.png")
                             for prefix in ("epoch", "recon", "interpolation")]
        text += f"{decoder}:\n\n" + " ".join(figures_shown) + "\n\n"
    return text


def ddpm_steps_section(out, nanogen, figures):
    found = variants(os.path.join(out, "ddpm-steps"))
    if not found:
        return ""
    rows, curves = [], {}
    # linear-ddim-10, ...: by schedule, then sampler, then steps as a number.
    key = lambda item: (item[0].split("-")[0], item[0].split("-")[1], int(item[0].split("-")[2]))  # noqa: E731
    for name, runs in sorted(found.items(), key=key):
        schedule, sampler, steps = name.split("-")
        e = load_eval(runs[0])
        m = e["metrics"]
        rows.append([schedule, sampler, steps, f"{m['fid']:.1f}", f"{m['kid_mean']:.1f}", f"{m['precision']:.3f}",
                     f"{m['recall']:.3f}", m["classes_covered"], f"{e['costs']['sample_time_per_image_ms']:.1f}"])
        curves.setdefault((schedule, sampler), []).append((int(steps), m["fid"], m["kid_mean"]))
    n = load_eval(next(iter(found.values()))[0])["n"]
    text = f"## The DDPM: schedules and sampling steps ({n} samples a point)\n\n"
    text += table(["schedule", "sampler", "steps", "FID", "KID x 1000", "precision", "recall", "classes",
                   "sample ms/image"], rows)
    # The curves as CSV files in the format `nanogen plot` reads (a "kind" column first).
    sources = []
    for (schedule, sampler), points in sorted(curves.items()):
        path = os.path.join(figures, f"ddpm_{schedule}_{sampler}.csv")
        with open(path, "w") as f:
            f.write("kind,steps,fid,kid\n" + "".join(f"point,{s},{fid},{kid}\n" for s, fid, kid in sorted(points)))
        sources.append(path)
    labels = [os.path.basename(p)[len("ddpm_"):-len(".csv")].replace("_", " ") for p in sources]
    for column in ("fid", "kid"):
        plot(nanogen, sources, labels, column, os.path.join(figures, f"ddpm_steps_{column}.png"),
             f"DDPM {column.upper()} against sampling steps", "--kind", "point", "--x", "steps", "--log-x",
             "--y-label", {"fid": "FID", "kid": "KID x 1000"}[column])
        text += f"\n![{column}](figures/ddpm_steps_{column}.png)\n"
    return text


def tradeoff_table(models):
    """A row per model: quality, diversity, likelihood, and the costs eval.json records."""
    rows = []
    for model, runs in models.items():
        evals = [load_eval(r) for r in runs]
        costs = [e["costs"] for e in evals]
        rows.append([model, *quality_cells([e["metrics"] for e in evals]), mean_std([e["metrics"]["bits_per_dim"] for e in evals], 3),
                     mean_std([c["train_steps"] for c in costs], 0), mean_std([c["train_time_s"] for c in costs], 0),
                     mean_std([c["sample_time_per_image_ms"] for c in costs], 2),
                     mean_std([c["train_peak_memory_mb"] for c in costs], 0), f"{costs[0]['parameters']:,}"])
    return table(["model", *[name for _, name, _ in QUALITY], "bits/dim", "train steps", "train s", "sample ms/image",
                  "train peak MB", "parameters"], rows)


def models_section(out, figures):
    found = variants(os.path.join(out, "models"))
    if not found:
        return ""
    text = "## The three models at equal wall time\n\n" + tradeoff_table(found)
    text += "\nThe first seed's samples:\n\n"
    for model, runs in found.items():
        text += f"{model}: " + copy_figure(os.path.join(runs[0], "eval", "samples.png"), figures,
                                           f"models_{model}.png") + "\n\n"
    return text


def epochs_section(out, figures):
    """The long runs: the table, then per model its samples epoch by epoch, the
    trainer's curves, and samples beside their nearest training images."""
    found = variants(os.path.join(out, "epochs"))
    if not found:
        return ""
    text = "## Each model over many epochs\n\n" + tradeoff_table(found)
    for model, runs in found.items():
        run = runs[0]
        with open(os.path.join(run, "config.json")) as f:
            epochs = json.load(f)["common"]["epochs"]
        text += f"\n### {model}, {epochs} epochs\n\n"
        text += "Epoch by epoch (a row an epoch, the same noise): "
        text += copy_figure(os.path.join(run, "samples", "epoch_strip.png"), figures, f"epochs_{model}_strip.png") + "\n\n"
        curves = sorted(glob.glob(os.path.join(run, "curves", "*.png")))
        text += " ".join(copy_figure(c, figures, f"epochs_{model}_{os.path.basename(c)}") for c in curves) + "\n\n"
        text += "Samples (first column) beside their nearest training images: "
        text += copy_figure(os.path.join(run, "eval", "nearest.png"), figures, f"epochs_{model}_nearest.png") + "\n"
    return text


def tradeoff_section(out):
    """The three models as trained for the parity (one epoch each, nanogen side)."""
    found = variants(os.path.join(out, "parity"))
    models = {k.rsplit("_", 1)[0]: v for k, v in sorted(found.items()) if k.endswith("_nanogen")}
    if not models:
        return ""
    return "## The trade-offs at equal epochs\n\n" + tradeoff_table(models)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--nanogen", default=os.path.join(ROOT, "build", "bin", "nanogen"))
    a = ap.parse_args()
    figures = os.path.join(a.out, "figures")
    os.makedirs(figures, exist_ok=True)
    sections = [parity_section(a.out), tradeoff_section(a.out), models_section(a.out, figures),
                gan_losses_section(a.out, a.nanogen, figures), vae_decoders_section(a.out, figures),
                ddpm_steps_section(a.out, a.nanogen, figures), epochs_section(a.out, figures)]
    path = os.path.join(a.out, "comparison.md")
    with open(path, "w") as f:
        f.write("# The comparison (tools/comparison.sh)\n\n" + "\n".join(s for s in sections if s))
    print(f"wrote {path} and {figures}")


if __name__ == "__main__":
    main()
