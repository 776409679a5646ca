"""PyTorch's values and gradients for the ops nanogen added for people who
build their own models (activations, reductions, losses, pad, max_pool2d,
bilinear upsampling, embedding, the index ops, unfold / fold and the general
conv2d), as a fixture that tests/cpu/test_ops_parity.cpp checks nanogen
against, in float64:

  python3 ops_parity.py tests/fixtures/ops_parity.safetensors

For each case the fixture holds its inputs `<case>.<input>` (one, `x`, for
most), PyTorch's output `<case>.y`, a random cotangent `<case>.r` and the
gradient of sum(y * r) with respect to each differentiable input,
`<case>.d<input>`. The cases' arguments, with the lists of inputs and of
differentiated inputs, are in the metadata. Index tensors are stored as
float64 holding whole numbers, as nanogen carries them.
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


def randn(g, *shape):
    return torch.randn(*shape, generator=g, dtype=torch.float64)


def indices(g, high, *shape):
    return torch.randint(0, high, shape, generator=g)


def multi_input_cases(g):
    """Cases of several inputs: (name, args, {input: tensor}, differentiated inputs, f(**inputs))."""
    x = randn(g, 4, 5, 3)
    image = randn(g, 2, 3, 5, 6)
    ties = torch.round(randn(g, 4, 5, 3))
    pick = indices(g, 5, 4, 2, 3)
    rows = randn(g, 6, 4)
    classes = indices(g, 4, 6)
    classes[2] = -100
    spatial = randn(g, 2, 3, 4)
    logits4d = randn(g, 2, 4, 3, 3) * 3
    targets4d = indices(g, 4, 2, 3, 3)
    weight4 = torch.rand(4, generator=g, dtype=torch.float64) + 0.5
    unfold_args = {"kernel": [2, 3], "dilation": [1, 2], "padding": [1, 0], "stride": [2, 1]}
    unfold_kw = {"kernel_size": (2, 3), "dilation": (1, 2), "padding": (1, 0), "stride": (2, 1)}
    cols = randn(g, 2, 3 * 6, 3 * 2)  # a 5x6 image has 3x2 such windows
    f = float

    def conv(name, xs, ws, bias, stride, padding, dilation, groups):
        inputs = {"x": randn(g, *xs), "w": randn(g, *ws)}
        if bias:
            inputs["b"] = randn(g, ws[0])
        args = {"op": "conv2d", "stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
        return (name, args, inputs, list(inputs),
                lambda x, w, b=None: F.conv2d(x, w, b, tuple(stride), tuple(padding), tuple(dilation), groups))

    return [
        ("gather_dim1", {"op": "gather", "dim": 1}, {"x": x, "index": f(1) * pick}, ["x"],
         lambda x, index: torch.gather(x, 1, index.long())),
        ("index_select_dim3", {"op": "index_select", "dim": 3},
         {"x": image, "index": torch.tensor([3.0, 0, 3, 5], dtype=torch.float64)}, ["x"],
         lambda x, index: torch.index_select(x, 3, index.long())),
        ("masked_fill", {"op": "masked_fill", "value": -2.5},
         {"x": x, "mask": (randn(g, 5, 1) > 0).double()}, ["x"],
         lambda x, mask: x.masked_fill(mask.bool(), -2.5)),
        ("argmax_dim1_ties", {"op": "argmax", "dim": 1, "keepdim": False}, {"x": ties}, [],
         lambda x: torch.argmax(x, 1).double()),
        ("nll_loss_weight_ignore", {"op": "nll_loss", "reduction": "mean", "ignore_index": -100},
         {"x": rows, "target": classes.double(), "weight": weight4}, ["x"],
         lambda x, target, weight: F.nll_loss(x, target.long(), weight=weight)),
        ("nll_loss_spatial_sum", {"op": "nll_loss", "reduction": "sum", "ignore_index": -100},
         {"x": spatial, "target": indices(g, 3, 2, 4).double()}, ["x"],
         lambda x, target: F.nll_loss(x, target.long(), reduction="sum")),
        ("cross_entropy_mean", {"op": "cross_entropy", "reduction": "mean", "ignore_index": -100},
         {"x": rows * 4, "target": indices(g, 4, 6).double()}, ["x"],
         lambda x, target: F.cross_entropy(x, target.long())),
        ("cross_entropy_weighted_4d", {"op": "cross_entropy", "reduction": "mean", "ignore_index": 2},
         {"x": logits4d, "target": targets4d.double(), "weight": weight4}, ["x"],
         lambda x, target, weight: F.cross_entropy(x, target.long(), weight=weight, ignore_index=2)),
        ("cross_entropy_probabilities", {"op": "cross_entropy", "reduction": "none", "ignore_index": -100},
         {"x": rows, "target": torch.softmax(randn(g, 6, 4), 1)}, ["x", "target"],
         lambda x, target: F.cross_entropy(x, target, reduction="none")),
        conv("conv_grouped", (2, 4, 7, 6), (6, 2, 3, 3), True, [1, 1], [1, 1], [1, 1], 2),
        conv("conv_depthwise_strided", (1, 3, 9, 8), (3, 1, 3, 3), True, [2, 1], [1, 2], [1, 1], 3),
        conv("conv_dilated", (2, 2, 9, 10), (4, 2, 3, 2), False, [1, 1], [2, 2], [2, 2], 1),
        conv("conv_mixed", (1, 2, 11, 7), (3, 2, 2, 3), True, [3, 2], [0, 1], [2, 1], 1),
        ("unfold", dict(op="unfold", **unfold_args), {"x": image}, ["x"], lambda x: F.unfold(x, **unfold_kw)),
        ("fold", dict(op="fold", size=[5, 6], **unfold_args), {"x": cols}, ["x"],
         lambda x: F.fold(x, (5, 6), **unfold_kw)),
    ]


def main(path):
    g = torch.Generator().manual_seed(20261206)
    single, target = cases(g)
    all_cases = [(name, args, {"x": x}, ["x"], lambda x, f=f: f(x)) for name, args, x, f in single] + multi_input_cases(g)
    tensors, meta = {"l1_target": target}, {}
    for name, args, inputs, differentiated, f in all_cases:
        inputs = {k: v.clone().requires_grad_(k in differentiated) for k, v in inputs.items()}
        y = f(**inputs)
        r = torch.randn(y.shape, generator=g, dtype=torch.float64)
        # Where y is -inf, the cotangent is 0 (a gradient through -inf is 0 in both).
        r = torch.where(torch.isinf(y), torch.zeros_like(r), r)
        tensors.update({f"{name}.y": y.detach(), f"{name}.r": r})
        tensors.update({f"{name}.{k}": v.detach() for k, v in inputs.items()})
        if differentiated:
            grads = torch.autograd.grad((y * r).nan_to_num(0.0).sum(), [inputs[k] for k in differentiated])
            tensors.update({f"{name}.d{k}": d for k, d in zip(differentiated, grads)})
        meta[name] = json.dumps(dict(args, inputs=list(inputs), grads=differentiated))
    safetensors_io.save(path, tensors, {"cases": json.dumps(meta), "torch": torch.__version__})


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "ops_parity.safetensors")
