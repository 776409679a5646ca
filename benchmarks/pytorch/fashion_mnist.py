"""Fashion-MNIST for the PyTorch twins: the IDX files of Debian's
dataset-fashion-mnist (or NANOGEN_DATA_DIR), read as nanogen reads them."""
import gzip
import os

import torch

DATA = os.environ.get("NANOGEN_DATA_DIR", "/usr/share/datasets/fashion-mnist")


def read_idx_images(path):
    """An IDX image file (gzipped) as float32 [N, 1, H, W] in [0, 1]."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    n, h, w = int.from_bytes(raw[4:8], "big"), int.from_bytes(raw[8:12], "big"), int.from_bytes(raw[12:16], "big")
    x = torch.frombuffer(bytearray(raw[16:]), dtype=torch.uint8).reshape(n, 1, h, w)
    return x.float() / 255.0


def images(split):
    """The 'train' (60,000) or 'test' (10,000) images."""
    name = {"train": "train-images-idx3-ubyte.gz", "test": "t10k-images-idx3-ubyte.gz"}[split]
    return read_idx_images(os.path.join(DATA, name))
