"""The DCGAN in PyTorch: nanogen's twin (models/gan.h), with the
same parameter names, the same five losses and the same training step, for
parity fixtures, checkpoint interchange and step-time races.

  python3 gan.py --dump tests/fixtures/gan_parity.safetensors   # parity fixture (narrow DCGAN)
  python3 gan.py --bench [--batch 64 --threads 2]               # median time of one D step + one G step
  python3 gan.py --check RUN/checkpoints/last.safetensors       # loads a nanogen checkpoint, prints D(G(z))
  python3 gan.py --train --seed 1 --out RUN_PT --like RUN       # trains; a run folder `nanogen eval` scores

A training step (nanogen's tools/train_gan.cpp does the same): for each of
n_critic batches, fake = G(z) without a graph, D(real) then D(fake), D's loss
(+ lambda * gradient penalty), D update (+ weight clipping); then G(z') with
fresh noise, D(G(z')) with D's weights frozen, G's loss, G update. Both
players in training mode.
"""
import argparse
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpu_math  # noqa: E402
import peak_memory  # noqa: E402
import safetensors_io  # noqa: E402
import twin_run  # noqa: E402
from fashion_mnist import DATA, images, read_idx_images  # noqa: E402

LOSSES = ["minimax", "nonsaturating", "kl", "wasserstein", "hinge"]


class GAN(nn.Module):
    def __init__(self, channels=1, size=28, z_dim=64, g_width=64, d_width=64, d_norm="batch"):
        super().__init__()
        s4 = size // 4
        g2, d2 = 2 * g_width, 2 * d_width
        self.z_dim = z_dim
        self.G = nn.Sequential(
            nn.Linear(z_dim, g2 * s4 * s4), nn.BatchNorm1d(g2 * s4 * s4), nn.ReLU(), nn.Unflatten(1, (g2, s4, s4)),
            nn.ConvTranspose2d(g2, g_width, 4, 2, 1), nn.BatchNorm2d(g_width), nn.ReLU(),
            nn.ConvTranspose2d(g_width, channels, 4, 2, 1), nn.Tanh())
        norm = {"batch": lambda: nn.BatchNorm2d(d2), "layer": lambda: nn.LayerNorm([d2, s4, s4]),
                "none": nn.Identity}[d_norm]()
        self.D = nn.Sequential(
            nn.Conv2d(channels, d_width, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(d_width, d2, 4, 2, 1), norm,
            nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(d2 * s4 * s4, 1))

    def critic(self, x):
        return self.D(x).view(-1)


def d_loss(loss, real, fake):
    if loss in ("minimax", "nonsaturating", "kl"):
        return F.softplus(-real).mean() + F.softplus(fake).mean()
    if loss == "wasserstein":
        return fake.mean() - real.mean()
    return F.relu(1 - real).mean() + F.relu(1 + fake).mean()  # hinge


def g_loss(loss, fake):
    if loss == "minimax":
        return -F.softplus(fake).mean()
    if loss == "nonsaturating":
        return F.softplus(-fake).mean()
    return -fake.mean()  # kl (log((1-D)/D) = -h), wasserstein, hinge


def gradient_penalty(model, real, fake, alpha):
    a = alpha.view(-1, *([1] * (real.dim() - 1)))
    x_hat = (a * real + (1 - a) * fake).detach().requires_grad_()
    (g,) = torch.autograd.grad(model.critic(x_hat).sum(), x_hat, create_graph=True)
    norm = torch.sqrt((g ** 2).flatten(1).sum(1) + 1e-12)
    return ((norm - 1) ** 2).mean()


def d_terms(model, loss, real, z, alpha, gp):
    with torch.no_grad():
        fake = model.G(z)
    real_logits, fake_logits = model.critic(real), model.critic(fake)
    total = d_loss(loss, real_logits, fake_logits)
    penalty = None
    if gp > 0:
        penalty = gradient_penalty(model, real, fake, alpha)
        total = total + gp * penalty
    return total, penalty


def g_terms(model, loss, z):
    """G's loss on G(z). D's weights are left out of the graph (as in nanogen):
    G's step needs the gradient through D, not D's weight gradients."""
    fake = model.G(z)
    for p in model.D.parameters():
        p.requires_grad_(False)
    logits = model.critic(fake)
    for p in model.D.parameters():
        p.requires_grad_(True)
    return g_loss(loss, logits)


NARROW = dict(z_dim=4, g_width=4, d_width=4)
# (case name, loss, gradient penalty weight, clipping bound, D's norm)
CASES = [("minimax", "minimax", 0.0, 0.0, "batch"), ("nonsaturating", "nonsaturating", 0.0, 0.0, "batch"),
         ("kl", "kl", 0.0, 0.0, "batch"), ("wasserstein", "wasserstein", 0.0, 0.01, "batch"),
         ("wasserstein_gp", "wasserstein", 10.0, 0.0, "none"), ("hinge", "hinge", 0.0, 0.0, "batch")]
SGD_LR = 0.1


def dump(path):
    """A narrow DCGAN and, for each loss, one D step and one G step with plain
    SGD (lr 0.1): D's loss and gradients, D's weights after its step (and
    clipping), G's loss and gradients after D's step, and the batch-norm
    running statistics after both steps. num_batches_tracked stays int64 (I64)."""
    torch.manual_seed(0)
    n = 6
    init = GAN(**NARROW).state_dict()
    data_file = os.path.join(DATA, "train-images-idx3-ubyte.gz")
    x = read_idx_images(data_file)[:n] * 2 - 1 if os.path.exists(data_file) else torch.rand(n, 1, 28, 28) * 2 - 1
    z_d, z_g, alpha = torch.randn(n, NARROW["z_dim"]), torch.randn(n, NARROW["z_dim"]), torch.rand(n)
    tensors = {f"param.{k}": v.clone() for k, v in init.items()}
    tensors.update({"x": x, "z_d": z_d, "z_g": z_g, "alpha": alpha})
    for case, loss, gp, clip, norm in CASES:
        model = GAN(**NARROW, d_norm=norm)
        model.load_state_dict({k: v for k, v in init.items() if norm == "batch" or not k.startswith("D.3.")})
        model.train()
        opt_d = torch.optim.SGD(model.D.parameters(), lr=SGD_LR)
        opt_g = torch.optim.SGD(model.G.parameters(), lr=SGD_LR)
        opt_d.zero_grad()
        total, penalty = d_terms(model, loss, x, z_d, alpha, gp)
        total.backward()
        opt_d.step()
        if clip > 0:
            with torch.no_grad():
                for p in model.D.parameters():
                    p.clamp_(-clip, clip)
        tensors[f"{case}.d_loss"] = total.detach().reshape(())
        if penalty is not None:
            tensors[f"{case}.penalty"] = penalty.detach().reshape(())
        for k, p in model.D.named_parameters():
            tensors[f"{case}.grad.D.{k}"] = p.grad.clone()
            tensors[f"{case}.after_d_step.D.{k}"] = p.detach().clone()
        opt_g.zero_grad()
        lg = g_terms(model, loss, z_g)
        lg.backward()
        opt_g.step()
        tensors[f"{case}.g_loss"] = lg.detach().reshape(())
        for k, p in model.G.named_parameters():
            tensors[f"{case}.grad.G.{k}"] = p.grad.clone()
        for k, b in model.named_buffers():
            tensors[f"{case}.buffer.{k}"] = b.clone()
        print(f"{case}: d_loss {total.item():.6f} g_loss {lg.item():.6f}")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    safetensors_io.save(path, tensors, {"torch": torch.__version__, "what": "gan parity: narrow DCGAN, batch 6",
                                        "optimizer": f"SGD lr {SGD_LR}", "config": str(NARROW)})
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


def bench(batch, threads, steps, device, loss, compile_=False):
    """Median time of one D step and one G step (Adam 2e-4, betas (0.5, 0.999))."""
    torch.set_num_threads(threads)
    base_mib = peak_memory.reset_peak()
    torch.manual_seed(0)
    model = GAN().to(device)
    model.G, model.D = gpu_math.compiled(model.G, compile_), gpu_math.compiled(model.D, compile_)
    opt_d = torch.optim.Adam(model.D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(model.G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    x = torch.rand(batch, 1, 28, 28, device=device) * 2 - 1
    times = []
    for i in range(steps + 5):
        z_d = torch.randn(batch, model.z_dim, device=device)
        z_g = torch.randn(batch, model.z_dim, device=device)
        if device != "cpu":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        opt_d.zero_grad()
        ld, _ = d_terms(model, loss, x, z_d, None, 0.0)
        ld.backward()
        opt_d.step()
        opt_g.zero_grad()
        lg = g_terms(model, loss, z_g)
        lg.backward()
        opt_g.step()
        ld.item(), lg.item()
        if device != "cpu":
            torch.cuda.synchronize()
        if i >= 5:
            times.append(time.perf_counter() - t0)
    med = statistics.median(times) * 1e3
    print(f"pytorch {torch.__version__} {gpu_math.bench_label(compile_)} gan step (D + G, {loss}), "
          f"batch {batch}, {threads} threads, {device}: median {med:.2f} ms"
          + peak_memory.report(base_mib))
    return med


def train(epochs, batch, threads, seed, loss, out=None, like=None):
    """DCGAN training as nanogen's default run: Adam 2e-4, betas (0.5, 0.999),
    one D step then one G step on fresh noise per batch of `batch` images
    scaled to [-1, 1], `epochs` passes over the 60,000 images (the last
    partial batch dropped). With `out`, the weights go to a run folder
    `nanogen eval` reads (twin_run.py), configured as the nanogen run `like`."""
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    train_x = images("train") * 2 - 1
    model = GAN()
    model.train()
    opt_d = torch.optim.Adam(model.D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(model.G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    for epoch in range(1, epochs + 1):
        t0 = time.time()
        perm = torch.randperm(len(train_x))
        for i in range(len(train_x) // batch):
            real = train_x[perm[i * batch:(i + 1) * batch]]
            opt_d.zero_grad()
            ld, _ = d_terms(model, loss, real, torch.randn(batch, model.z_dim), None, 0.0)
            ld.backward()
            opt_d.step()
            opt_g.zero_grad()
            lg = g_terms(model, loss, torch.randn(batch, model.z_dim))
            lg.backward()
            opt_g.step()
        print(f"epoch {epoch}: d_loss {ld.item():.4f} g_loss {lg.item():.4f} ({time.time() - t0:.0f} s)")
    if out:
        twin_run.write_run(out, like, model.state_dict(),
                           f"pytorch {torch.__version__} gan.py --train --epochs {epochs} --seed {seed} --loss {loss}")


def check(path, n):
    """Loads a nanogen checkpoint into the twin; prints the mean D logit of
    G(z) for z = 0.1 * arange, in eval mode (running statistics)."""
    tensors, meta = safetensors_io.load(path)
    state = {k: v for k, v in tensors.items() if not k.startswith(("optim.", "ema."))}
    model = GAN()
    model.load_state_dict(state)
    model.eval()
    z = (torch.arange(n * model.z_dim, dtype=torch.float32).reshape(n, model.z_dim) % 7 - 3) * 0.1
    with torch.no_grad():
        print(f"{model.critic(model.G(z)).mean().item():.6f}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dump")
    ap.add_argument("--bench", action="store_true")
    ap.add_argument("--check")
    ap.add_argument("--train", action="store_true")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", help="with --train: write the weights as a run folder nanogen evaluates")
    ap.add_argument("--like", help="with --out: the nanogen run whose config.json (model options) to use")
    ap.add_argument("--loss", default="nonsaturating", choices=LOSSES)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--tf32", action="store_true", help="allow TF32 tensor cores on a GPU (gpu_math.py)")
    ap.add_argument("--compile", action="store_true", help="with --bench: the model through torch.compile")
    a = ap.parse_args()
    if a.dump:
        dump(a.dump)
    if a.bench:
        gpu_math.set_gpu_math(a.tf32)
        gpu_math.run_bench(lambda: bench(a.batch, a.threads, a.steps, a.device, a.loss, a.compile), a.compile)
    if a.train:
        if bool(a.out) != bool(a.like):
            ap.error("--out and --like go together")
        train(a.epochs, a.batch, a.threads, a.seed, a.loss, a.out, a.like)
    if a.check:
        check(a.check, 8)
