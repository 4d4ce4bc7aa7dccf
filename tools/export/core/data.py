"""Fashion-MNIST from the IDX files that Debian's `dataset-fashion-mnist` package installs."""

import gzip
import os
import struct

import numpy as np

DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"
CLASS_NAMES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

from .errors import UserError  # noqa: E402


def _open(path):
    for candidate in (path + ".gz", path):
        if os.path.exists(candidate):
            return gzip.open(candidate, "rb") if candidate.endswith(".gz") else open(candidate, "rb")
    return None


def _read_idx(path, expected_magic):
    f = _open(path)
    if f is None:
        raise UserError(
            f"Fashion-MNIST file {os.path.basename(path)}(.gz) not found in {os.path.dirname(path)}. "
            "Install it with `apt-get install dataset-fashion-mnist`, or pass --data DIR with the four IDX files."
        )
    with f:
        raw = f.read()
    if len(raw) < 8:
        raise UserError(f"{path} is truncated: not an IDX file")
    magic, count = struct.unpack(">II", raw[:8])
    if magic != expected_magic:
        raise UserError(f"{path} is not an IDX file of the expected kind (magic {magic:#x})")
    if expected_magic == 2051:
        rows, cols = struct.unpack(">II", raw[8:16])
        data = np.frombuffer(raw, dtype=np.uint8, offset=16)
        if data.size != count * rows * cols:
            raise UserError(f"{path} is truncated: {data.size} pixels for {count} images")
        return data.reshape(count, rows, cols)
    data = np.frombuffer(raw, dtype=np.uint8, offset=8)
    if data.size != count:
        raise UserError(f"{path} is truncated: {data.size} labels for {count}")
    return data


def load(split="train", data_dir=None):
    """Return (images uint8 [N, 28, 28], labels uint8 [N])."""
    data_dir = data_dir or DEFAULT_DIR
    if not os.path.isdir(data_dir):
        raise UserError(
            f"data directory {data_dir} does not exist. Install Fashion-MNIST with "
            "`apt-get install dataset-fashion-mnist`, or pass --data DIR with the four IDX files."
        )
    images_name, labels_name = FILES[split]
    images = _read_idx(os.path.join(data_dir, images_name), 2051)
    labels = _read_idx(os.path.join(data_dir, labels_name), 2049)
    if len(images) != len(labels):
        raise UserError(f"{data_dir}: {len(images)} images but {len(labels)} labels in the {split} split")
    return images, labels


def to_model_range(images_uint8):
    """uint8 [N, H, W] → float32 [N, 1, H, W] in [-1, 1], the range the model and manifest use."""
    x = images_uint8.astype(np.float32) / 127.5 - 1.0
    return x[:, None, :, :]
