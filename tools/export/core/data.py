"""The data a model learns from: `--data` names a preset, a folder of images, or a folder of IDX files.

    /usr/bin/python3 -m tools.export data inspect --data DIR_OR_NAME [--size 32] [--channels 3]
    /usr/bin/python3 -m tools.export data fetch emoji

- A preset: `fashion-mnist` (Zalando's Fashion-MNIST, MIT; 28×28 grey, 10 classes, from Debian's
  `dataset-fashion-mnist`) or `emoji` (the base emoji of Noto Color Emoji and Twemoji, 64×64 colour,
  one class per Unicode category, from the npm packages `emoji-datasource-google` and
  `emoji-datasource-twitter`).
- A folder of images: one subfolder per class makes a class-conditional model, images directly in
  the folder an unconditional one (core/images.py says how they are read and split).
- A folder of IDX files (`train-images-idx3-ubyte[.gz]` and the rest, as MNIST-style sets ship).

A fetched preset's files live under $ADADIFF_DATA_DIR (default: .data/ in the repository, which git
ignores). Training data is fetched, never committed.
"""


import argparse
import json
import os
import shutil
import subprocess
import tarfile
import tempfile

from . import images
from .errors import UserError
from .images import SPLITS, Options  # noqa: F401  (Options: part of load()'s signature, re-exported)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def data_dir():
    return os.environ.get("ADADIFF_DATA_DIR") or os.path.join(ROOT, ".data")


class FashionMNIST:
    name = "Fashion-MNIST"
    folder = "/usr/share/datasets/fashion-mnist"
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot"]
    attribution = "Fashion-MNIST, Xiao, Rasul and Vollgraf (2017), Zalando Research, MIT licence"

    @classmethod
    def describe(cls):
        """The record a checkpoint keeps of its data (images.DataSet.describe), without reading the files."""
        return {"id": "fashion-mnist", "name": cls.name, "classes": list(cls.classes), "channels": 1, "size": 28,
                "split": {"rule": "the set's own train and t10k files", "train": 60000, "heldout": 10000},
                "attribution": cls.attribution}

    @classmethod
    def fetch(cls):
        if os.path.isdir(cls.folder):
            return f"Fashion-MNIST is installed in {cls.folder}"
        raise UserError("Fashion-MNIST comes from Debian: `apt-get install dataset-fashion-mnist`")

    @classmethod
    def load(cls, split, options):
        if not os.path.isdir(cls.folder):
            raise UserError(f"Fashion-MNIST is not installed ({cls.folder} is missing): "
                            "`apt-get install dataset-fashion-mnist`, or pass --data DIR with its four IDX files")
        return images.load_idx(cls.folder, split, options, name=cls.name, classes=cls.classes,
                             attribution=cls.attribution)


class Emoji:
    name = "emoji (Noto Color Emoji and Twemoji)"
    version = "16.0.0"
    packages = {"google": "emoji-datasource-google", "twitter": "emoji-datasource-twitter"}
    # Component holds 5 entries (4 hair parts and the skin-tone swatches' base), not pictures of a thing:
    # too few to learn a class from, so they are left out, and the count is reported.
    dropped_categories = ("Component",)
    attribution = ("Emoji images from Noto Color Emoji (© Google, Apache License 2.0) and Twemoji (© X Corp and "
                   "contributors, CC-BY 4.0), as packaged by emoji-datasource 16.0.0 (MIT)")

    @classmethod
    def folder(cls):
        """The images, one folder per category; ATTRIBUTION.md sits beside it."""
        return os.path.join(data_dir(), "emoji", "images")

    @classmethod
    def fetch(cls):
        """Download the two npm packages, and keep each base emoji's 64×64 PNG in a folder per category,
        named <codepoints>.<set>.png so that both drawings of an emoji share a split."""
        target = os.path.dirname(cls.folder())
        if os.path.exists(os.path.join(target, "ATTRIBUTION.md")):
            return f"emoji already fetched in {target}"
        if shutil.which("npm") is None:
            raise UserError("fetching the emoji needs npm (it downloads two npm packages)")
        staging = target + ".partial"
        shutil.rmtree(staging, ignore_errors=True)
        counts, dropped = {}, 0
        with tempfile.TemporaryDirectory() as tmp:
            specs = [f"{pkg}@{cls.version}" for pkg in cls.packages.values()]
            done = subprocess.run(["npm", "pack", *specs, "--pack-destination", tmp], capture_output=True, text=True)
            if done.returncode != 0:
                raise UserError(f"npm pack {' '.join(specs)} failed: {done.stderr.strip()[-500:]}")
            for style, pkg in cls.packages.items():
                with tarfile.open(os.path.join(tmp, f"{pkg}-{cls.version}.tgz")) as tar:
                    entries = json.load(tar.extractfile("package/emoji.json"))
                    for e in entries:
                        if not e.get(f"has_img_{style}"):
                            continue
                        if e["category"] in cls.dropped_categories:
                            dropped += 1
                            continue
                        blob = tar.extractfile(f"package/img/{style}/64/{e['image']}").read()
                        folder = os.path.join(staging, "images", e["category"])
                        os.makedirs(folder, exist_ok=True)
                        stem = e["image"].rsplit(".", 1)[0]
                        with open(os.path.join(folder, f"{stem}.{style}.png"), "wb") as f:
                            f.write(blob)
                        counts[e["category"]] = counts.get(e["category"], 0) + 1
        with open(os.path.join(staging, "ATTRIBUTION.md"), "w") as f:
            f.write(f"# Emoji images\n\n{cls.attribution}.\n\nBase emoji only (no skin-tone variants); "
                    f"{dropped} images of the Component category left out.\n")
        os.replace(staging, target)
        per = ", ".join(f"{c} {n}" for c, n in sorted(counts.items()))
        return f"fetched {sum(counts.values())} emoji into {target} ({per}); left out {dropped} Component images"

    @classmethod
    def load(cls, split, options):
        if not os.path.exists(os.path.join(os.path.dirname(cls.folder()), "ATTRIBUTION.md")):
            raise UserError(f"the emoji are not fetched yet ({os.path.dirname(cls.folder())}): run "
                            "`/usr/bin/python3 -m tools.export data fetch emoji` (downloads about 136 MB from npm)")
        return images.load_folder(cls.folder(), split, options, name=cls.name, attribution=cls.attribution)


PRESETS = {"fashion-mnist": FashionMNIST, "emoji": Emoji}


def source_of(ckpt):
    """The --data a training checkpoint was trained with (a preset name or a folder)."""
    return ckpt.get("config", {}).get("data", {}).get("source") or ("fashion-mnist" if "dataset" not in ckpt else None)


def trained_on(ckpt):
    """The data record of a training checkpoint. Checkpoints from before the data could be chosen hold
    none, and every one of them was trained on Fashion-MNIST."""
    record = dict(ckpt.get("dataset") or FashionMNIST.describe())
    if "id" not in record:  # written before records had one
        record["id"] = data_id(source_of(ckpt))
    return record


def load(source, split="train", options=None):
    """The `split` ("train" or "heldout") of a preset, folder or IDX folder, converted by `options`."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    options = options or Options()
    if options.resize not in images.RESIZE_RULES:
        raise UserError(f"data.resize must be one of {', '.join(images.RESIZE_RULES)}, got {options.resize!r}")
    if not 0 < options.heldout < 1:
        raise UserError(f"data.heldout must be a fraction in (0, 1), got {options.heldout}")
    if not source:
        raise UserError("no data given: pass --data (a preset name such as "
                        f"{' or '.join(PRESETS)}, a folder of images, or a folder of IDX files), "
                        "or set data.source in the config")
    preset = PRESETS.get(source)
    if preset is not None:
        dataset = preset.load(split, options)
    elif not os.path.isdir(source):
        raise UserError(f"--data {source}: no such folder, and not a preset ({', '.join(PRESETS)})")
    elif images.idx_path(source, images.IDX_FILES["train"][0]):
        dataset = images.load_idx(source, split, options)
    else:
        dataset = images.load_folder(source, split, options)
    dataset.id = data_id(source)
    return dataset


def data_id(source):
    """A short name for a data set, for file names (its judge's folder, the manifest): the preset's
    name, or the folder's."""
    return source if source in PRESETS else os.path.basename(os.path.normpath(source))


# ---- the command --------------------------------------------------------------------------------
def main(argv=None):
    p = argparse.ArgumentParser(prog="tools.export data", description="inspect a data set, or fetch a preset")
    sub = p.add_subparsers(dest="command", required=True)
    i = sub.add_parser("inspect", help="what --data would train on: classes, counts, conversions, split")
    i.add_argument("--data", required=True)
    i.add_argument("--size", type=int, default=None, help="the model's image size (default: the images' own)")
    i.add_argument("--channels", type=int, default=None, choices=(1, 3))
    i.add_argument("--resize", choices=images.RESIZE_RULES, default="center-crop")
    f = sub.add_parser("fetch", help="download a preset's images (emoji: two npm packages, about 136 MB)")
    f.add_argument("name", choices=sorted(PRESETS))
    args = p.parse_args(argv)
    if args.command == "fetch":
        print(PRESETS[args.name].fetch())
        return
    opts = Options(size=args.size, channels=args.channels, resize=args.resize)
    for split in SPLITS:
        ds = load(args.data, split, opts)
        print(f"{split}: {len(ds.images)} images, {ds.channels}×{ds.size}×{ds.size}")
        for note in ds.notes:
            print(f"  {note}")
    kind = f"{len(ds.classes)} classes" if ds.classes else "unconditional (no class folders)"
    print(f"{ds.name}: {kind}; split: {ds.split['rule']}")
    for k, c in enumerate(ds.classes):
        print(f"  {k}: {c}")


if __name__ == "__main__":
    from .errors import run_cli

    run_cli(main)
