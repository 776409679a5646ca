"""The VAE of models/vae.h in PyTorch: nanogen's twin, with the same parameter
names, for parity fixtures, checkpoint interchange and step-time races.

  python3 vae.py --dump tests/fixtures/vae_parity.safetensors   # parity fixture (narrow model)
  python3 vae.py --bench [--batch 64 --threads 2]               # median training-step time
  python3 vae.py --train [--epochs 3]                           # the reference test -ELBO per epoch
  python3 vae.py --train --seed 1 --out RUN_PT --like RUN       # ... and a run folder `nanogen eval` scores
  python3 vae.py --check RUN/checkpoints/last.safetensors       # loads a nanogen checkpoint, prints its loss
"""
import argparse
import math
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
from fashion_mnist import images  # noqa: E402


class VAE(nn.Module):
    def __init__(self, channels=1, size=28, z_dim=16, hidden=256, conv1=32, conv2=64,
                 likelihood="bernoulli", sigma=0.1):
        super().__init__()
        s4 = size // 4
        flat = conv2 * s4 * s4
        self.z_dim, self.likelihood = z_dim, likelihood
        self.enc = nn.Sequential(
            nn.Conv2d(channels, conv1, 4, 2, 1), nn.ReLU(), nn.Conv2d(conv1, conv2, 4, 2, 1), nn.ReLU(),
            nn.Flatten(), nn.Linear(flat, hidden), nn.ReLU(), nn.Linear(hidden, 2 * z_dim))
        self.dec = nn.Sequential(
            nn.Linear(z_dim, hidden), nn.ReLU(), nn.Linear(hidden, flat), nn.ReLU(),
            nn.Unflatten(1, (conv2, s4, s4)), nn.ConvTranspose2d(conv2, conv1, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(conv1, channels, 4, 2, 1))
        if likelihood == "gaussian-learned":
            self.log_sigma = nn.Parameter(torch.tensor(math.log(sigma)))
        elif likelihood == "gaussian":
            self.register_buffer("log_sigma", torch.tensor(math.log(sigma)))

    def loss(self, x, eps, beta=1.0):
        """Negative ELBO per image (nats), its reconstruction and KL terms."""
        mu, logvar = self.enc(x).chunk(2, dim=1)
        z = mu + torch.exp(0.5 * logvar) * eps
        out = self.dec(z)
        n = x.shape[0]
        if self.likelihood == "bernoulli":
            recon = F.binary_cross_entropy_with_logits(out, x, reduction="sum") / n
        else:
            var = torch.exp(2 * self.log_sigma)
            recon = (0.5 * (math.log(2 * math.pi) + torch.log(var) + (x - out) ** 2 / var)).sum() / n
        kl = 0.5 * (torch.exp(logvar) + mu ** 2 - 1 - logvar).sum() / n
        return recon + beta * kl, recon, kl


def dump(path):
    """A narrow VAE, one batch, its loss and gradients, then 10 Adam steps."""
    torch.manual_seed(0)
    model = VAE(z_dim=4, hidden=16, conv1=4, conv2=8)
    x = torch.rand(6, 1, 28, 28)
    eps = torch.randn(11, 6, 4)
    tensors = {f"param.{k}": v.clone() for k, v in model.state_dict().items()}
    loss, recon, kl = model.loss(x, eps[0])
    loss.backward()
    for k, p in model.named_parameters():
        tensors[f"grad.{k}"] = p.grad.clone()
    tensors.update({"x": x, "eps": eps, "loss": loss.detach().reshape(()), "recon": recon.detach().reshape(()),
                    "kl": kl.detach().reshape(())})
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for k in range(1, 11):
        opt.zero_grad()
        l, _, _ = model.loss(x, eps[k])
        l.backward()
        opt.step()
        losses.append(l.item())
    tensors["adam_losses"] = torch.tensor(losses)
    for k, v in model.state_dict().items():
        tensors[f"final.{k}"] = v.clone()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    safetensors_io.save(path, tensors, {"torch": torch.__version__, "what": "vae parity: narrow VAE, batch 6"})
    print(f"wrote {path}: loss {loss.item():.6f}, after 10 Adam steps {losses[-1]:.6f}")


def bench(batch, threads, steps, device, compile_=False):
    torch.set_num_threads(threads)
    base_mib = peak_memory.reset_peak()
    torch.manual_seed(0)
    model = VAE().to(device)
    loss_of = gpu_math.compiled(model.loss, compile_)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(batch, 1, 28, 28, device=device)
    times = []
    for i in range(steps + 5):
        eps = torch.randn(batch, 16, device=device)
        if device != "cpu":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        loss, _, _ = loss_of(x, eps)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if device != "cpu":
            torch.cuda.synchronize()
        if i >= 5:
            times.append(time.perf_counter() - t0)
    med = statistics.median(times) * 1e3
    print(f"pytorch {torch.__version__} {gpu_math.bench_label(compile_)} vae step, batch {batch}, "
          f"{threads} threads, {device}: median {med:.2f} ms"
          + peak_memory.report(base_mib))
    return med


def train(epochs, batch, threads, seed, out=None, like=None):
    """Adam 1e-3, `epochs` passes over the 60,000 images in batches of `batch`
    (the last partial batch dropped, as nanogen does); with `out`, the weights
    go to a run folder `nanogen eval` reads (twin_run.py), configured as the
    nanogen run `like`."""
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    train_x, test_x = images("train"), images("test")
    model = VAE()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(1, epochs + 1):
        t0 = time.time()
        model.train()
        perm = torch.randperm(len(train_x))
        for i in range(len(train_x) // batch):
            x = train_x[perm[i * batch:(i + 1) * batch]]
            loss, _, _ = model.loss(x, torch.randn(batch, 16))
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            total = 0.0
            for i in range(0, len(test_x), 256):
                x = test_x[i:i + 256]
                total += model.loss(x, torch.randn(len(x), 16))[0].item() * len(x)
        print(f"epoch {epoch}: test -ELBO {total / len(test_x):.2f} nats/image ({time.time() - t0:.0f} s)")
    if out:
        twin_run.write_run(out, like, model.state_dict(),
                           f"pytorch {torch.__version__} vae.py --train --epochs {epochs} --seed {seed}")


def check(path, batch):
    """Loads a nanogen checkpoint into the PyTorch twin and prints the loss of
    the first `batch` test images with eps = 0 (the decoder at the mean)."""
    tensors, meta = safetensors_io.load(path)
    state = {k: v for k, v in tensors.items() if not k.startswith(("optim.", "ema."))}
    model = VAE()
    model.load_state_dict(state)
    x = images("test")[:batch]
    with torch.no_grad():
        loss, recon, kl = model.loss(x, torch.zeros(batch, 16))
    print(f"{loss.item():.6f} {recon.item():.6f} {kl.item():.6f}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dump")
    ap.add_argument("--bench", action="store_true")
    ap.add_argument("--train", action="store_true")
    ap.add_argument("--check")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", help="with --train: write the weights as a run folder nanogen evaluates")
    ap.add_argument("--like", help="with --out: the nanogen run whose config.json (model options) to use")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--tf32", action="store_true", help="allow TF32 tensor cores on a GPU (gpu_math.py)")
    ap.add_argument("--compile", action="store_true", help="with --bench: the model through torch.compile")
    a = ap.parse_args()
    if a.dump:
        dump(a.dump)
    if a.bench:
        gpu_math.set_gpu_math(a.tf32)
        gpu_math.run_bench(lambda: bench(a.batch, a.threads, a.steps, a.device, a.compile), a.compile)
    if a.train:
        if bool(a.out) != bool(a.like):
            ap.error("--out and --like go together")
        train(a.epochs, a.batch, a.threads, a.seed, a.out, a.like)
    if a.check:
        check(a.check, a.batch)
