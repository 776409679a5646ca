"""The DDPM U-Net in PyTorch: nanogen's twin (models/unet.h), with
the same parameter names, for the parity fixture and step-time races.

  python3 ddpm.py --dump tests/fixtures/ddpm_parity.safetensors   # parity fixture (narrow U-Net)
  python3 ddpm.py --bench [--batch 64 --threads 2 --device cpu]   # median training-step time, canonical U-Net
  python3 ddpm.py --params                                        # parameter names and count of the canonical U-Net
  python3 ddpm.py --train --seed 1 --out RUN_PT --like RUN        # trains RUN's U-Net; a run folder `nanogen eval` scores

A training step (nanogen's tools/train_ddpm.cpp does the same): a batch of
images scaled to [-1, 1], t uniform in 1..T, L_simple, the global gradient
norm clipped, Adam (with the run's linear warm-up), then the EMA of the
weights with its warmed-up decay min(decay, (1 + n) / (10 + n)).
"""
import argparse
import json
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


def timestep_embedding(t, dim):
    """Sinusoidal embedding of integer timesteps (Ho et al.'s get_timestep_embedding),
    computed in float64 so that nanogen (which computes it in double on the host)
    gets the same float32 values even for t near 1000."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float64) / (half - 1))
    args = t.to(torch.float64)[:, None] * freqs[None, :]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1).float()


class ResBlock(nn.Module):
    def __init__(self, cin, cout, temb_dim, groups, dropout=0.0):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.temb = nn.Linear(temb_dim, cout)
        self.norm2 = nn.GroupNorm(groups, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None
        self.dropout = dropout

    def forward(self, x, temb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.temb(F.silu(temb))[:, :, None, None]
        h = self.conv2(F.dropout(F.silu(self.norm2(h)), self.dropout, self.training))
        return (x if self.skip is None else self.skip(x)) + h


class AttnBlock(nn.Module):
    """Single-head self-attention over the H*W positions, with a residual."""

    def __init__(self, c, groups):
        super().__init__()
        self.norm = nn.GroupNorm(groups, c)
        self.qkv = nn.Conv2d(c, 3 * c, 1)
        self.proj = nn.Conv2d(c, c, 1)

    def forward(self, x):
        n, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(n, 3 * c, h * w).chunk(3, dim=1)
        attn = torch.softmax(torch.bmm(q.transpose(1, 2), k) / math.sqrt(c), dim=-1)  # [n, query, key]
        out = torch.bmm(v, attn.transpose(1, 2)).reshape(n, c, h, w)
        return x + self.proj(out)


class Level(nn.Module):
    """One resolution of the U-Net: residual blocks, attention after each when
    this resolution has it, then a resampling conv (none at the end of the path)."""

    def __init__(self, in_channels, channels, blocks, attn, temb_dim, groups, dropout, resample):
        super().__init__()
        self.res = nn.ModuleList([ResBlock(in_channels[j], channels, temb_dim, groups, dropout) for j in range(blocks)])
        self.attn = nn.ModuleList([AttnBlock(channels, groups) for _ in range(blocks)] if attn else [])
        if resample == "down":
            self.down = nn.Conv2d(channels, channels, 3, stride=2, padding=1)
        elif resample == "up":
            self.up = nn.Conv2d(channels, channels, 3, padding=1)


class Mid(nn.Module):
    def __init__(self, c, temb_dim, groups, dropout):
        super().__init__()
        self.res1 = ResBlock(c, c, temb_dim, groups, dropout)
        self.attn = AttnBlock(c, groups)
        self.res2 = ResBlock(c, c, temb_dim, groups, dropout)


class UNet(nn.Module):
    def __init__(self, channels=1, size=28, base=64, mults=(1, 2, 2), blocks=1, attn_res=(7,), temb_dim=256,
                 groups=8, dropout=0.0):
        super().__init__()
        self.base = base
        chans = [base * m for m in mults]
        levels = len(mults)
        self.time_mlp = nn.Sequential(nn.Linear(base, temb_dim), nn.SiLU(), nn.Linear(temb_dim, temb_dim))
        self.stem = nn.Conv2d(channels, base, 3, padding=1)
        self.down = nn.ModuleList()
        prev, res = base, size
        for i, c in enumerate(chans):
            ins = [prev] + [c] * (blocks - 1)
            self.down.append(Level(ins, c, blocks, res in attn_res, temb_dim, groups, dropout,
                                   "down" if i < levels - 1 else None))
            prev = c
            if i < levels - 1:
                res //= 2
        self.mid = Mid(chans[-1], temb_dim, groups, dropout)
        up = [None] * levels
        for i in reversed(range(levels)):
            c = chans[i]
            ins = [prev + c] + [2 * c] * (blocks - 1)
            up[i] = Level(ins, c, blocks, res in attn_res, temb_dim, groups, dropout, "up" if i > 0 else None)
            prev = c
            res *= 2
        self.up = nn.ModuleList(up)
        self.out_norm = nn.GroupNorm(groups, base)
        self.out_conv = nn.Conv2d(base, channels, 3, padding=1)

    def forward(self, x, t):
        temb = self.time_mlp(timestep_embedding(t, self.base).to(x.device))
        h = self.stem(x)
        skips = []
        for lv in self.down:
            for j, block in enumerate(lv.res):
                h = block(h, temb)
                if len(lv.attn):
                    h = lv.attn[j](h)
                skips.append(h)
            if hasattr(lv, "down"):
                h = lv.down(h)
        h = self.mid.res2(self.mid.attn(self.mid.res1(h, temb)), temb)
        for lv in reversed(self.up):
            for j, block in enumerate(lv.res):
                h = block(torch.cat([h, skips.pop()], dim=1), temb)
                if len(lv.attn):
                    h = lv.attn[j](h)
            if hasattr(lv, "up"):
                h = lv.up(F.interpolate(h, scale_factor=2, mode="nearest"))
        return self.out_conv(F.silu(self.out_norm(h)))


def linear_abar(T=1000, beta_start=1e-4, beta_end=0.02):
    """abar_t for t = 1..T of the linear schedule, in float64 (as nanogen's Diffusion)."""
    betas = torch.linspace(beta_start, beta_end, T, dtype=torch.float64)
    return torch.cumprod(1.0 - betas, dim=0)


def q_sample(x0, t, eps, abar):
    a = abar[t - 1].sqrt().float()[:, None, None, None]
    b = (1.0 - abar[t - 1]).sqrt().float()[:, None, None, None]
    return a * x0 + b * eps


def l_simple(model, x0, t, eps, abar):
    return F.mse_loss(model(q_sample(x0, t, eps, abar), t), eps)


NARROW = dict(channels=1, size=8, base=6, mults=(1, 2), blocks=1, attn_res=(4,), temb_dim=12, groups=3)


def dump(path):
    """A narrow U-Net, one batch, its L_simple and gradients, then 10 Adam steps."""
    torch.manual_seed(0)
    model = UNet(**NARROW)
    abar = linear_abar()
    n = 4
    x0 = torch.rand(n, 1, 8, 8) * 2 - 1
    t = torch.stack([torch.tensor([1, 17, 500, 1000])] + [torch.randint(1, 1001, (n,)) for _ in range(10)])
    eps = torch.randn(11, n, 1, 8, 8)
    tensors = {f"param.{k}": v.clone() for k, v in model.state_dict().items()}
    loss = l_simple(model, x0, t[0], eps[0], abar)
    loss.backward()
    for k, p in model.named_parameters():
        tensors[f"grad.{k}"] = p.grad.clone()
    tensors.update({"x0": x0, "t": t.double(), "eps": eps, "loss": loss.detach().reshape(())})
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for k in range(1, 11):
        opt.zero_grad()
        l = l_simple(model, x0, t[k], eps[k], abar)
        l.backward()
        opt.step()
        losses.append(l.item())
    tensors["adam_losses"] = torch.tensor(losses, dtype=torch.float64)
    for k, v in model.state_dict().items():
        tensors[f"final.{k}"] = v.clone()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    safetensors_io.save(path, tensors, {"torch": torch.__version__, "what": f"ddpm parity: narrow U-Net {NARROW}, "
                                        "linear schedule T=1000, batch 4, Adam lr 1e-3"})
    count = sum(p.numel() for p in model.parameters())
    print(f"wrote {path}: {count} parameters, loss {loss.item():.6f}, after 10 Adam steps {losses[-1]:.6f}")


def unet_options(ddpm):
    """The twin's UNet arguments from a nanogen run's "ddpm" options (tools/model_options.h)."""
    attn = ddpm["attention_res"]
    return dict(base=ddpm["base_channels"], mults=tuple(int(m) for m in ddpm["channel_mults"].split(",")),
                blocks=ddpm["blocks"], attn_res=() if attn in ("", "none") else tuple(int(r) for r in attn.split(",")),
                temb_dim=ddpm["temb_dim"] or 4 * ddpm["base_channels"], groups=ddpm["groups"], dropout=ddpm["dropout"])


def train(epochs, batch, threads, seed, out=None, like=None):
    """The U-Net (canonical, or the nanogen run `like`'s) trained as nanogen
    trains it, with the run's options: Adam at the run's lr, gradient clipping,
    warm-up and EMA; `epochs` passes over the 60,000 images, the last partial
    batch dropped. The linear schedule only. With `out`, the raw and the EMA
    weights ("ema.*", which `nanogen eval` samples from) go to a run folder."""
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    ddpm = {"attention_res": "7", "base_channels": 64, "channel_mults": "1,2,2", "blocks": 1, "temb_dim": 0,
            "groups": 8, "dropout": 0.0, "ema_decay": 0.9999, "grad_clip": 1.0, "warmup_steps": 0,
            "schedule": "linear", "timesteps": 1000}
    lr = 2e-4
    if like:
        with open(os.path.join(like, "config.json")) as f:
            config = json.load(f)
        ddpm.update(config["ddpm"])
        lr, batch = config["common"]["lr"], config["common"]["batch_size"]
    if ddpm["schedule"] != "linear" or ddpm["timesteps"] != 1000:
        sys.exit("ddpm.py --train: the twin has the linear schedule with T = 1000 only")
    train_x = images("train") * 2 - 1
    model = UNet(**unet_options(ddpm))
    model.train()
    ema = {k: v.detach().clone() for k, v in model.state_dict().items()}
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    abar = linear_abar()
    step = 0
    for epoch in range(1, epochs + 1):
        t0, total = time.time(), 0.0
        perm = torch.randperm(len(train_x))
        steps = len(train_x) // batch
        for i in range(steps):
            x0 = train_x[perm[i * batch:(i + 1) * batch]]
            t = torch.randint(1, 1001, (batch,))
            loss = l_simple(model, x0, t, torch.randn_like(x0), abar)
            opt.zero_grad()
            loss.backward()
            if ddpm["grad_clip"] > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), ddpm["grad_clip"])
            if ddpm["warmup_steps"] > 0:
                for g in opt.param_groups:
                    g["lr"] = lr * min(1.0, (step + 1) / ddpm["warmup_steps"])
            opt.step()
            decay = min(ddpm["ema_decay"], (1 + step) / (10 + step))
            with torch.no_grad():
                for k, v in model.state_dict().items():
                    ema[k].mul_(decay).add_(v, alpha=1 - decay)
            step += 1
            total += loss.item()
        print(f"epoch {epoch}: mean L_simple {total / steps:.4f} ({time.time() - t0:.0f} s)")
    if out:
        state = dict(model.state_dict())
        state.update({f"ema.{k}": v for k, v in ema.items()})
        state["ema.updates"] = torch.tensor(float(step), dtype=torch.float64)
        twin_run.write_run(out, like, state, f"pytorch {torch.__version__} ddpm.py --train --epochs {epochs} --seed {seed}")


def bench(batch, threads, steps, device, compile_=False):
    torch.set_num_threads(threads)
    base_mib = peak_memory.reset_peak()
    torch.manual_seed(0)
    model = UNet().to(device)
    model = gpu_math.compiled(model, compile_)
    opt = torch.optim.Adam(model.parameters(), lr=2e-4)
    abar = linear_abar().to(device)
    x0 = (torch.rand(batch, 1, 28, 28, device=device) * 2 - 1)
    times = []
    for i in range(steps + 3):
        t = torch.randint(1, 1001, (batch,), device=device)
        eps = torch.randn(batch, 1, 28, 28, device=device)
        if device != "cpu":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        loss = l_simple(model, x0, t, eps, abar)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if device != "cpu":
            torch.cuda.synchronize()
        if i >= 3:
            times.append(time.perf_counter() - t0)
    med = statistics.median(times) * 1e3
    print(f"pytorch {torch.__version__} {gpu_math.bench_label(compile_)} ddpm step, batch {batch}, "
          f"{threads} threads, {device}: median {med:.2f} ms"
          + peak_memory.report(base_mib))
    return med


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dump")
    ap.add_argument("--bench", action="store_true")
    ap.add_argument("--params", action="store_true")
    ap.add_argument("--train", action="store_true")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", help="with --train: write the weights as a run folder nanogen evaluates")
    ap.add_argument("--like", help="with --out: the nanogen run whose config.json (U-Net and training options) to use")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
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
    if a.params:
        m = UNet()
        for k, v in m.state_dict().items():
            print(k, list(v.shape))
        print("parameters:", sum(p.numel() for p in m.parameters()))
