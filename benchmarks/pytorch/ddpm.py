"""The DDPM U-Net in PyTorch: nanogen's twin (models/unet.h), with
the same parameter names, for the parity fixture and step-time races.

  python3 ddpm.py --dump tests/fixtures/ddpm_parity.safetensors   # parity fixture (narrow U-Net)
  python3 ddpm.py --bench [--batch 64 --threads 2 --device cpu]   # median training-step time, canonical U-Net
  python3 ddpm.py --params                                        # parameter names and count of the canonical U-Net
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


def bench(batch, threads, steps, device):
    torch.set_num_threads(threads)
    base_mib = peak_memory.reset_peak()
    torch.manual_seed(0)
    model = UNet().to(device)
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
    print(f"pytorch {torch.__version__} ddpm step, batch {batch}, {threads} threads, {device}: median {med:.2f} ms"
          + peak_memory.report(base_mib))
    return med


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dump")
    ap.add_argument("--bench", action="store_true")
    ap.add_argument("--params", action="store_true")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--tf32", action="store_true", help="allow TF32 tensor cores on a GPU (gpu_math.py)")
    a = ap.parse_args()
    if a.dump:
        dump(a.dump)
    if a.bench:
        gpu_math.set_gpu_math(a.tf32)
        bench(a.batch, a.threads, a.steps, a.device)
    if a.params:
        m = UNet()
        for k, v in m.state_dict().items():
            print(k, list(v.shape))
        print("parameters:", sum(p.numel() for p in m.parameters()))
