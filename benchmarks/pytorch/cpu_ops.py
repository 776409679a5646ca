"""The U-Net's hot CPU ops in PyTorch, for benchmarks/cpu_ops.cpp: each op's
forward and backward (y = op(x); (y * r).sum().backward()) at one shape, the
median of --repeats runs after two warm-ups. Prints one line per op:
"<name> median <ms>"."""
import argparse
import statistics
import time

import torch


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--shape", type=int, nargs=4, default=[64, 64, 28, 28])
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    n, c, h, w = a.shape
    x = torch.randn(n, c, h, w, requires_grad=True)
    r = torch.randn(n, c, h, w)
    weight, bias = torch.ones(c, requires_grad=True), torch.zeros(c, requires_grad=True)
    conv = torch.nn.Conv2d(c, c, 3, padding=1)
    ops = {
        "conv3x3": lambda t: conv(t),
        "group_norm": lambda t: torch.nn.functional.group_norm(t, 8, weight, bias),
        "silu": torch.nn.functional.silu,
    }
    for name, op in ops.items():
        def step():
            (op(x) * r).sum().backward()
            x.grad = None
        times = []
        for i in range(a.repeats + 2):
            t = time.perf_counter()
            step()
            if i >= 2:
                times.append((time.perf_counter() - t) * 1000)
        print(f"{name} median {statistics.median(times):.3f}", flush=True)


if __name__ == "__main__":
    main()
