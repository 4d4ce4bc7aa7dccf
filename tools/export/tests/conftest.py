import gzip
import os
import struct
import sys

import numpy as np
import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def shapes(n, classes, size, channels, seed):
    """n small synthetic images: class c is a square at a place and (in colour) a hue of its own, with a
    random offset and brightness, on a light background. Enough structure for a loss to fall."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % max(classes, 1)
    images = np.full((n, size, size, channels), 230, np.uint8)
    side = size // 3
    for k, c in enumerate(labels):
        x0 = (c * side // 2 + rng.integers(0, 3)) % (size - side)
        y0 = (c * side // 3 + rng.integers(0, 3)) % (size - side)
        colour = [(60 + 60 * c) % 256, (200 - 50 * c) % 256, (40 + 90 * c) % 256][:channels]
        images[k, y0 : y0 + side, x0 : x0 + side] = np.array(colour) * rng.uniform(0.7, 1.0)
    return images, labels


def write_idx(folder, split_stems, images, labels):
    os.makedirs(folder, exist_ok=True)
    img_stem, lab_stem = split_stems
    with gzip.open(os.path.join(folder, img_stem + ".gz"), "wb") as f:
        f.write(struct.pack(">IIII", 2051, len(images), images.shape[1], images.shape[2]) + images.tobytes())
    with gzip.open(os.path.join(folder, lab_stem + ".gz"), "wb") as f:
        f.write(struct.pack(">II", 2049, len(labels)) + labels.astype(np.uint8).tobytes())


@pytest.fixture(scope="session")
def idx_dir(tmp_path_factory):
    """A tiny MNIST-style IDX set (28×28 grey, 10 classes): the training tests' data, made here so that
    they run where Fashion-MNIST is not installed."""
    from tools.export.core.images import IDX_FILES

    folder = str(tmp_path_factory.mktemp("idx"))
    for split, n, seed in (("train", 300, 0), ("heldout", 100, 1)):
        images, labels = shapes(n, 10, 28, 1, seed)
        write_idx(folder, IDX_FILES[split], images[..., 0], labels)
    return folder


def write_pngs(folder, images, names):
    from PIL import Image

    os.makedirs(folder, exist_ok=True)
    for a, name in zip(images, names):
        Image.fromarray(a if a.shape[2] == 3 else a[..., 0]).save(os.path.join(folder, name))


@pytest.fixture(scope="session")
def rgb_folder(tmp_path_factory):
    """A folder of 28×28 RGB PNGs, one subfolder per class (3 classes of 12)."""
    root = str(tmp_path_factory.mktemp("rgb"))
    images, labels = shapes(36, 3, 28, 3, 2)
    for c, name in enumerate(["circle", "square", "star"]):
        idx = np.flatnonzero(labels == c)
        write_pngs(os.path.join(root, name), images[idx], [f"img{k:02d}.png" for k in range(len(idx))])
    return root


@pytest.fixture(scope="session")
def unconditional_folder(tmp_path_factory):
    """28×28 RGB PNGs directly in one folder: an unconditional data set."""
    root = str(tmp_path_factory.mktemp("uncond"))
    images, _ = shapes(30, 3, 28, 3, 3)
    write_pngs(root, images, [f"img{k:02d}.png" for k in range(len(images))])
    return root
