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
