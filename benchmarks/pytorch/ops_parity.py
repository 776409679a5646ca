"""PyTorch's values and gradients for the ops nanogen added for people who
build their own models (activations, reductions, losses, pad, max_pool2d,
bilinear upsampling, embedding), as a fixture that tests/cpu/test_ops_parity.cpp
checks nanogen against, in float64:

  python3 ops_parity.py tests/fixtures/ops_parity.safetensors

For each case the fixture holds the input `<case>.x`, PyTorch's output
`<case>.y`, a random cotangent `<case>.r` and the gradient of sum(y * r)
with respect to x, `<case>.dx`. The cases' arguments are in the metadata.
"""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402


def cases(g):
    x = torch.randn(4, 5, 3, generator=g, dtype=torch.float64) * 2
    kinks = torch.tensor([-2.0, -0.5, 0.0, 0.25, 3.0], dtype=torch.float64)  # elu and gelu around 0
    with_zero_row = torch.randn(3, 4, generator=g, dtype=torch.float64)
    with_zero_row[1] = 0
    with_neg_inf = torch.randn(3, 4, generator=g, dtype=torch.float64) * 30
    with_neg_inf[2] = -math.inf
    target = torch.randn(4, 5, 3, generator=g, dtype=torch.float64)
    image = torch.randn(2, 3, 4, 5, generator=g, dtype=torch.float64)
    table = torch.randn(6, 3, generator=g, dtype=torch.float64)
    ties = torch.round(torch.randn(2, 2, 6, 7, generator=g, dtype=torch.float64))  # many equal maxima
    return [
        ("gelu", {"op": "gelu"}, x, F.gelu),
        ("gelu_kinks", {"op": "gelu"}, kinks, F.gelu),
        ("elu", {"op": "elu", "alpha": 0.7}, x, lambda v: F.elu(v, alpha=0.7)),
        ("elu_kinks", {"op": "elu", "alpha": 1.0}, kinks, F.elu),
        ("var_dim1", {"op": "var", "dims": [1], "correction": 1, "keepdim": False}, x,
         lambda v: torch.var(v, dim=[1], unbiased=True)),
        ("var_all_population", {"op": "var", "dims": [], "correction": 0, "keepdim": False}, x,
         lambda v: torch.var(v, unbiased=False)),
        ("std_dims02_keepdim", {"op": "std", "dims": [0, 2], "correction": 1, "keepdim": True}, x + 100,
         lambda v: torch.std(v, dim=[0, 2], unbiased=True, keepdim=True)),
        ("logsumexp_dim1", {"op": "logsumexp", "dims": [1], "keepdim": False}, x * 20,
         lambda v: torch.logsumexp(v, dim=1)),
        ("logsumexp_neg_inf_row", {"op": "logsumexp", "dims": [1], "keepdim": True}, with_neg_inf,
         lambda v: torch.logsumexp(v, dim=1, keepdim=True)),
        ("std_constant_row", {"op": "std", "dims": [1], "correction": 1, "keepdim": False}, with_zero_row + 2,
         lambda v: torch.std(v, dim=1, unbiased=True)),
        ("norm2_zero_row", {"op": "vector_norm", "ord": 2.0, "dims": [1], "keepdim": False}, with_zero_row,
         lambda v: torch.linalg.vector_norm(v, ord=2, dim=1)),
        ("norm3_zero_row", {"op": "vector_norm", "ord": 3.0, "dims": [1], "keepdim": False}, with_zero_row,
         lambda v: torch.linalg.vector_norm(v, ord=3, dim=1)),
        ("norm1", {"op": "vector_norm", "ord": 1.0, "dims": [], "keepdim": False}, x,
         lambda v: torch.linalg.vector_norm(v, ord=1)),
        ("norm3_dim2", {"op": "vector_norm", "ord": 3.0, "dims": [2], "keepdim": True}, x,
         lambda v: torch.linalg.vector_norm(v, ord=3, dim=2, keepdim=True)),
        ("norm_inf_dim0", {"op": "vector_norm", "ord": "inf", "dims": [0], "keepdim": False}, x,
         lambda v: torch.linalg.vector_norm(v, ord=math.inf, dim=0)),
        ("l1_mean", {"op": "l1_loss", "reduction": "mean"}, x, lambda v: F.l1_loss(v, target)),
        ("l1_none", {"op": "l1_loss", "reduction": "none"}, x, lambda v: F.l1_loss(v, target, reduction="none")),
        ("pad_constant", {"op": "pad", "padding": [1, 2, 0, 3], "mode": "constant", "value": 0.5}, image,
         lambda v: F.pad(v, (1, 2, 0, 3), mode="constant", value=0.5)),
        ("pad_reflect", {"op": "pad", "padding": [3, 1, 2, 3], "mode": "reflect", "value": 0.0}, image,
         lambda v: F.pad(v, (3, 1, 2, 3), mode="reflect")),
        ("pad_replicate", {"op": "pad", "padding": [2, 0, 1, 2], "mode": "replicate", "value": 0.0}, image,
         lambda v: F.pad(v, (2, 0, 1, 2), mode="replicate")),
        ("max_pool_3s2p1", {"op": "max_pool2d", "kernel": 3, "stride": 2, "padding": 1}, image,
         lambda v: F.max_pool2d(v, 3, 2, 1)),
        ("max_pool_ties", {"op": "max_pool2d", "kernel": 2, "stride": 1, "padding": 0}, ties,
         lambda v: F.max_pool2d(v, 2, 1)),
        ("max_pool_ties_padded", {"op": "max_pool2d", "kernel": 3, "stride": 3, "padding": 1}, ties,
         lambda v: F.max_pool2d(v, 3, 3, 1)),
        ("bilinear_up", {"op": "upsample_bilinear2d", "size": [7, 9], "align_corners": False}, image,
         lambda v: F.interpolate(v, size=(7, 9), mode="bilinear", align_corners=False)),
        ("bilinear_up_corners", {"op": "upsample_bilinear2d", "size": [8, 11], "align_corners": True}, image,
         lambda v: F.interpolate(v, size=(8, 11), mode="bilinear", align_corners=True)),
        ("bilinear_down", {"op": "upsample_bilinear2d", "size": [3, 2], "align_corners": False}, ties,
         lambda v: F.interpolate(v, size=(3, 2), mode="bilinear", align_corners=False)),
        ("embedding", {"op": "embedding", "indices": [5, 0, 5, 2, 5]}, table,
         lambda w: F.embedding(torch.tensor([5, 0, 5, 2, 5]), w)),
    ], target


def main(path):
    g = torch.Generator().manual_seed(20261206)
    all_cases, target = cases(g)
    tensors, meta = {"l1_target": target}, {}
    for name, args, x, f in all_cases:
        x = x.clone().requires_grad_(True)
        y = f(x)
        r = torch.randn(y.shape, generator=g, dtype=torch.float64)
        # Where y is -inf, the cotangent is 0 (a gradient through -inf is 0 in both).
        r = torch.where(torch.isinf(y), torch.zeros_like(r), r)
        (dx,) = torch.autograd.grad((y * r).nan_to_num(0.0).sum(), x)
        tensors.update({f"{name}.x": x.detach(), f"{name}.y": y.detach(), f"{name}.r": r, f"{name}.dx": dx})
        meta[name] = json.dumps(args)
    safetensors_io.save(path, tensors, {"cases": json.dumps(meta), "torch": torch.__version__})


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "ops_parity.safetensors")
