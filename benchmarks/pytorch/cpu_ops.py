"""The models' hot CPU ops in PyTorch, for benchmarks/cpu_ops.cpp: each op's
forward and backward (y = op(x); (y * r).sum().backward()) at its shape,
batch 64, the median of --repeats runs after two warm-ups. Prints one line
per op: "<name> median <ms>", the names as cpu_ops.cpp writes them."""
import argparse
import statistics
import time

import torch


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=15)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)

    def conv(c_in, c_out, size, stride, size_in):
        layer = torch.nn.Conv2d(c_in, c_out, size, stride=stride, padding=1)
        name = f"conv{size}x{size}{' s2 ' if stride > 1 else ' '}{c_in}->{c_out} at {size_in}"
        return name, (64, c_in, size_in, size_in), layer

    def affine(c):
        return torch.ones(c, requires_grad=True), torch.zeros(c, requires_grad=True)

    gw, gb = affine(64)
    gw2, gb2 = affine(128)
    bw, bb = affine(6272)
    F = torch.nn.functional
    ops = [
        conv(64, 64, 3, 1, 28),
        conv(192, 64, 3, 1, 28),
        conv(128, 128, 3, 1, 28),
        conv(128, 128, 3, 1, 14),
        conv(256, 128, 3, 1, 14),
        conv(128, 128, 3, 1, 7),
        conv(64, 128, 4, 2, 14),
        ("group_norm(8) 64 at 28", (64, 64, 28, 28), lambda t: F.group_norm(t, 8, gw, gb)),
        ("group_norm(8) 128 at 14", (64, 128, 14, 14), lambda t: F.group_norm(t, 8, gw2, gb2)),
        ("silu 64 at 28", (64, 64, 28, 28), F.silu),
        ("silu(group_norm(8)) 64 at 28", (64, 64, 28, 28), lambda t: F.silu(F.group_norm(t, 8, gw, gb))),
        ("group_norm_silu(8) 64 at 28", (64, 64, 28, 28), lambda t: F.silu(F.group_norm(t, 8, gw, gb))),
        ("batch_norm 6272", (64, 6272), lambda t: F.batch_norm(t, None, None, bw, bb, training=True)),
    ]
    for name, shape, op in ops:
        x = torch.randn(*shape, requires_grad=True)
        r = torch.randn(op(x).shape)

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
