"""How the PyTorch twins do their arithmetic on a GPU when raced (--bench).

cudnn.benchmark on: cuDNN times its algorithms for each shape and keeps the
fastest, as a speed-minded PyTorch user would. TF32 off by default, so that
both sides compute in strict fp32; --tf32 turns it on for cuDNN and cuBLAS
(PyTorch's own default allows it for convolutions only).
"""
import torch


def set_gpu_math(tf32: bool) -> str:
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    return "tf32" if tf32 else "fp32"


def compiled(fn, enabled: bool):
    """A module or function through torch.compile (its default mode) when
    enabled, else itself. A PyTorch without torch.compile (before 2.0) is refused
    with the reason, which the race prints in place of a time."""
    if not enabled:
        return fn
    if not hasattr(torch, "compile"):
        raise RuntimeError(f"torch.compile needs PyTorch 2.0 or later; this is {torch.__version__}")
    return torch.compile(fn)


def bench_label(compile_: bool) -> str:
    """What a --bench line calls the PyTorch side: eager, or compiled."""
    return "torch.compile" if compile_ else "eager"


def run_bench(bench, compile_: bool):
    """Runs bench(); with --compile, a failure to compile becomes one line
    ("torch.compile unavailable: why") instead of a traceback, so the race
    reports no time for it and goes on."""
    if not compile_:
        return bench()
    try:
        return bench()
    except Exception as e:  # noqa: BLE001 -- any compiler failure means "no compiled time"
        print(f"torch.compile unavailable: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}", flush=True)
        return None
