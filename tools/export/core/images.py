"""Reading images into a model's shape: folders of images and IDX files, with every conversion counted.

Every image is brought to the model's size and channels by the rules the config states
(`data.resize`, `data.background`). Each conversion is reported with its count; nothing is dropped
silently, and what cannot be read is an error that names the file.

The held-out split is kept out of training and is what evaluation compares samples with. In a folder
it is a fixed fraction of each class, chosen by a hash of the file name up to its first dot: the
same files land in the same split on every machine, a file added later does not move the others, and
files that share that stem (`cat01.png`, `cat01.flipped.png`; one emoji drawn in two styles) stay
together, so no near-copy of a held-out image is trained on. IDX sets keep their own train/test files.
"""

import gzip
import hashlib
import os
import struct
from dataclasses import dataclass, field

import numpy as np

from .errors import UserError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
RESIZE_RULES = ("center-crop", "stretch", "pad")
SPLITS = ("train", "heldout")
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "heldout": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


@dataclass
class Options:
    """How images become model inputs: the config's `data` block and the model's size and channels."""

    size: int | None = None  # None: the images' own (they must then all agree)
    channels: int | None = None  # None: 3 if any image is in colour, else 1
    resize: str = "center-crop"
    background: tuple = (255, 255, 255)
    heldout: float = 0.1

    @classmethod
    def from_config(cls, cfg):
        d, m = cfg["data"], cfg["model"]
        return cls(size=m["img_size"], channels=m["in_chans"], resize=d["resize"],
                   background=tuple(d["background"]), heldout=d["heldout"])


@dataclass
class DataSet:
    """One split of a data set, converted to the model's size and channels."""

    name: str
    images: np.ndarray  # uint8 [N, C, H, W]
    labels: np.ndarray  # int64 [N]; all 0 for an unconditional set
    classes: list  # class names in label order; [] for an unconditional set
    split: dict  # how the split was made and its counts: {"rule", "train", "heldout"}
    notes: list = field(default_factory=list)  # conversions, with counts
    attribution: str | None = None
    id: str | None = None  # a short name for files: the preset's, or the folder's (data.data_id)

    @property
    def channels(self):
        return self.images.shape[1]

    @property
    def size(self):
        return self.images.shape[2]

    def model_range(self):
        """float32 [N, C, H, W] in [-1, 1], the range the model and the manifest use."""
        return self.images.astype(np.float32) / 127.5 - 1.0

    def describe(self):
        """What a checkpoint and a manifest record about the data: enough to export without it."""
        out = {"id": self.id, "name": self.name, "classes": list(self.classes), "channels": self.channels, "size": self.size,
               "split": dict(self.split)}
        if self.attribution:
            out["attribution"] = self.attribution
        return out


# ---- folders of images --------------------------------------------------------------------------
def _is_image(name):
    return name.lower().endswith(IMAGE_EXTENSIONS)


def _visible(entries):
    return sorted(e for e in entries if not e.startswith("."))


def _files_under(folder):
    """Every file below folder, as paths relative to it, in a fixed order; hidden ones left out."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = _visible(dirs)
        found += [os.path.relpath(os.path.join(root, f), folder) for f in _visible(files)]
    return sorted(found)


def group_key(relative_path):
    """Files that agree up to the first dot of their name share a split (see the module's docstring)."""
    head, name = os.path.split(relative_path)
    return os.path.join(head, name.split(".", 1)[0])


def split_groups(keys, fraction):
    """The held-out set of group keys: round(fraction · groups) of them (at least one), by hash."""
    groups = sorted(set(keys), key=lambda k: hashlib.sha256(k.encode()).hexdigest())
    n = min(len(groups) - 1, max(1, round(fraction * len(groups))))
    return set(groups[:n])


def load_folder(folder, split, options, name=None, attribution=None):
    entries = _visible(os.listdir(folder))
    subdirs = [e for e in entries if os.path.isdir(os.path.join(folder, e))]
    loose = [e for e in entries if not os.path.isdir(os.path.join(folder, e))]
    loose_images = [e for e in loose if _is_image(e)]
    if subdirs and loose_images:
        raise UserError(
            f"{folder} holds both class subfolders ({', '.join(subdirs[:3])}) and images directly in it "
            f"({', '.join(loose_images[:3])}): put every image in a class folder for a class-conditional model, "
            "or every image directly in the folder for an unconditional one")
    notes = []
    if subdirs:
        classes = subdirs
        per_class = [(c, [os.path.join(c, f) for f in _files_under(os.path.join(folder, c))]) for c in classes]
        skipped = [f for f in loose]  # files beside the class folders: never images (checked above)
    else:
        classes = []
        per_class = [(None, loose)]
        skipped = []
    kept = []
    for label, (cls, files) in enumerate(per_class):
        images = [f for f in files if _is_image(f)]
        skipped += [f for f in files if not _is_image(f)]
        where = f"class folder {cls!r}" if cls is not None else folder
        if not images:
            raise UserError(f"{where} has no images ({', '.join(IMAGE_EXTENSIONS)}): add some, or remove it")
        if len(images) < 2:
            raise UserError(f"{where} has only one image ({images[0]}): a class needs at least two, one to train "
                            "on and one held out to evaluate against. Add images, or remove the class folder.")
        held = split_groups([group_key(f) for f in images], options.heldout)
        if len({group_key(f) for f in images}) < 2:
            raise UserError(f"{where}: all its images share one file-name stem ({group_key(images[0])}), so none "
                            "can be held out without a near-copy in training; rename them or add images")
        for f in images:
            kept.append((f, label if cls is not None else 0, group_key(f) in held))
    if skipped:
        notes.append(f"skipped {len(skipped)} file(s) that are not images by their extension: "
                     f"{', '.join(skipped[:5])}{' …' if len(skipped) > 5 else ''}")
    counts = {"train": sum(not h for *_, h in kept), "heldout": sum(h for *_, h in kept)}
    chosen = [(f, y) for f, y, h in kept if h == (split == "heldout")]
    pixels, convert_notes = _read_images(folder, [f for f, _ in chosen], [f for f, *_ in kept], options)
    notes += convert_notes
    return DataSet(
        name=name or os.path.basename(os.path.normpath(folder)),
        images=pixels,
        labels=np.array([y for _, y in chosen], dtype=np.int64),
        classes=classes,
        split={"rule": f"{options.heldout:g} of each class's file-name stems, by SHA-256", **counts},
        notes=notes,
        attribution=attribution,
    )


def _probe(folder, files):
    """Every file's size and mode, read from its header, and checked whole (PIL's verify), so that a
    broken image is an error whichever split it falls in."""
    from PIL import Image, UnidentifiedImageError

    found, broken = {}, []
    for f in files:
        try:
            with Image.open(os.path.join(folder, f)) as im:
                found[f] = (im.size, im.mode)
                im.verify()
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
            broken.append(f"{f} ({type(e).__name__}: {e})")
    if broken:
        raise UserError(f"{len(broken)} file(s) in {folder} could not be read as images: "
                        f"{'; '.join(broken[:5])}{' …' if len(broken) > 5 else ''}. Replace or remove them.")
    return found


GREY_MODES = ("1", "L", "LA", "I", "I;16", "F")


def _read_images(folder, files, all_files, options):
    """Decode `files`, flatten transparency, convert channels and resize, with the channels and size
    decided on `all_files` (the whole set, both splits alike); return uint8 [N, C, S, S] and notes."""
    from PIL import Image

    probed = _probe(folder, all_files)
    channels = options.channels or (3 if any(mode not in GREY_MODES for _, mode in probed.values()) else 1)
    if channels not in (1, 3):
        raise UserError(f"model.in_chans must be 1 (grey) or 3 (RGB), got {channels}")
    size = options.size
    if size is None:
        every = sorted({wh for wh, _ in probed.values()})
        if len(every) > 1:
            raise UserError(f"images in {folder} come in {len(every)} sizes ({_sizes(every)}): set model.img_size "
                            "in the config, and data.resize to say how they are brought to it")
        size = min(every[0])
    decoded = []
    for f in files:
        with Image.open(os.path.join(folder, f)) as im:
            im.load()
            decoded.append(im.copy())
    colour = [im.mode not in GREY_MODES for im in decoded]
    sizes = sorted({im.size for im in decoded})
    notes = []
    transparent = sum(_has_alpha(im) for im in decoded)
    if transparent:
        notes.append(f"composited {transparent} image(s) with transparency onto background "
                     f"rgb{tuple(options.background)}")
    if channels == 3 and not all(colour):
        notes.append(f"repeated {colour.count(False)} grey image(s) to RGB (the set is colour)")
    if channels == 1 and any(colour):
        notes.append(f"converted {sum(colour)} colour image(s) to grey (ITU-R 601-2 luma)")
    off_size = sum(im.size != (size, size) for im in decoded)
    if off_size:
        notes.append(f"resized {off_size} image(s) of {len(sizes)} size(s) ({_sizes(sizes)}) to {size}×{size} by "
                     f"{options.resize}")
    out = np.empty((len(decoded), channels, size, size), dtype=np.uint8)
    for k, im in enumerate(decoded):
        im = _flatten(im, options.background).convert("RGB" if channels == 3 else "L")
        im = _fit(im, size, options.resize, options.background)
        a = np.asarray(im, dtype=np.uint8)
        out[k] = a.transpose(2, 0, 1) if channels == 3 else a[None]
    return out, notes


def _sizes(sizes):
    shown = ", ".join(f"{w}×{h}" for w, h in sizes[:4])
    return shown + (" …" if len(sizes) > 4 else "")


def _has_alpha(im):
    return im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)


def _flatten(im, background):
    """Transparent pixels onto the background colour: the model sees what a viewer would."""
    from PIL import Image

    if not _has_alpha(im):
        return im
    rgba = im.convert("RGBA")
    base = Image.new("RGBA", rgba.size, tuple(background) + (255,))
    return Image.alpha_composite(base, rgba)


def _fit(im, size, rule, background):
    """The image at size×size: its central square (center-crop), squeezed (stretch), or centred on
    the background colour (pad). Box filter when shrinking (an area average), bicubic when growing."""
    from PIL import Image

    w, h = im.size
    if (w, h) == (size, size):
        return im
    if rule == "center-crop" and w != h:
        s = min(w, h)
        left, top = (w - s) // 2, (h - s) // 2
        im = im.crop((left, top, left + s, top + s))
    elif rule == "pad" and w != h:
        s = max(w, h)
        fill = tuple(background) if im.mode == "RGB" else int(np.dot(background, [0.299, 0.587, 0.114]))
        canvas = Image.new(im.mode, (s, s), fill)
        canvas.paste(im, ((s - w) // 2, (s - h) // 2))
        im = canvas
    shrink = im.size[0] >= size and im.size[1] >= size
    return im.resize((size, size), Image.BOX if shrink else Image.BICUBIC)


# ---- IDX files ----------------------------------------------------------------------------------
def idx_path(folder, stem):
    for candidate in (stem + ".gz", stem):
        path = os.path.join(folder, candidate)
        if os.path.exists(path):
            return path
    return None


def read_idx(folder, stem, expected_magic):
    path = idx_path(folder, stem)
    if path is None:
        raise UserError(f"IDX file {stem}(.gz) not found in {folder}")
    with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as f:
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


def load_idx(folder, split, options, name=None, classes=None, attribution=None):
    """An MNIST-style set: the train files are the training split, the t10k files the held-out one.
    Class names come from the preset, or from classes.txt (one per line) beside the files."""
    images_stem, labels_stem = IDX_FILES[split]
    images = read_idx(folder, images_stem, 2051)
    labels = read_idx(folder, labels_stem, 2049).astype(np.int64)
    if len(images) != len(labels):
        raise UserError(f"{folder}: {len(images)} images but {len(labels)} labels in the {split} split")
    if classes is None:
        names_file = os.path.join(folder, "classes.txt")
        if os.path.exists(names_file):
            with open(names_file) as f:
                classes = [line.strip() for line in f if line.strip()]
        else:
            classes = [str(k) for k in range(int(labels.max()) + 1)]
    if labels.max() >= len(classes):
        raise UserError(f"{folder}: label {labels.max()} but only {len(classes)} class names")
    counts = {s: int(struct.unpack(">II", _head(folder, IDX_FILES[s][1]))[1]) for s in SPLITS}
    notes = []
    size, channels = options.size or images.shape[1], options.channels or 1
    if size != images.shape[1]:
        from PIL import Image

        notes.append(f"resized {len(images)} image(s) of 1 size ({images.shape[2]}×{images.shape[1]}) to "
                     f"{size}×{size}")
        images = np.stack([np.asarray(Image.fromarray(a).resize((size, size), Image.BICUBIC)) for a in images])
    pixels = images[:, None]
    if channels == 3:
        pixels = np.repeat(pixels, 3, axis=1)
        notes.append(f"repeated {len(images)} grey image(s) to RGB (the model is colour)")
    return DataSet(name=name or os.path.basename(os.path.normpath(folder)), images=np.ascontiguousarray(pixels),
                   labels=labels, classes=list(classes), notes=notes, attribution=attribution,
                   split={"rule": "the set's own train and t10k files", **counts})


def _head(folder, stem):
    path = idx_path(folder, stem)
    if path is None:
        raise UserError(f"IDX file {stem}(.gz) not found in {folder}")
    with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as f:
        return f.read(8)
