"""A small classifier per data set, the judge of generated images: does a sample show the requested
class (agreement), and how far is the spread of samples from real held-out images in its
penultimate features (FID in that feature space: Inception features do not fit 28×28 or 32×32)?

    /usr/bin/python3 -m tools.export classifier --data emoji [--out tools/export/judges/emoji]

Trained on the data's training split and scored on its held-out split. Writes classifier.pt,
classifier.onnx (logits and features, for the TypeScript eval; kept out of public/ so the page never
downloads it) and classifier.json (held-out accuracy, input shape, class names, and the held-out
split's feature mean and covariance: the FID reference).
"""

import argparse
import json
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..core import data as data_mod
from ..core.errors import UserError, run_cli
from .export import TRACED

FEATURES = 128
JUDGES = os.path.join(os.path.dirname(__file__), "..", "judges")


def default_judge(source):
    """Where a data set's judge lives: judges/<data id>/classifier.pt."""
    return os.path.relpath(os.path.join(JUDGES, data_mod.data_id(source), "classifier.pt"))


class Classifier(nn.Module):
    def __init__(self, num_classes=10, channels=1, size=28):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.drop = nn.Dropout(0.3)
        self.fc = nn.Linear(64 * (size // 4) ** 2, FEATURES)
        self.out = nn.Linear(FEATURES, num_classes)

    def forward(self, x):
        """x in [-1, 1], [B, C, S, S] → (logits, features)."""
        features = F.relu(self.fc(self.conv(x).flatten(1)))
        return self.out(self.drop(features)), features


def load_classifier(path):
    """The classifier at path, shaped by the classifier.json beside it."""
    if not os.path.exists(path):
        raise UserError(f"judge {path} not found: train it with `python3 -m tools.export classifier --data DATA`")
    info = read_info(path)
    _, channels, size, _ = info["input"]["dims"]
    state = torch.load(path, map_location="cpu")
    model = Classifier(num_classes=state["out.weight"].shape[0], channels=channels, size=size)
    model.load_state_dict(state)
    return model.eval()


def read_info(path):
    with open(path.replace(".pt", ".json")) as f:
        return json.load(f)


@torch.no_grad()
def features_of(model, images, batch=500):
    logits, feats = [], []
    for i in range(0, len(images), batch):
        lg, ft = model(images[i : i + batch])
        logits.append(lg)
        feats.append(ft)
    return torch.cat(logits), torch.cat(feats).double().numpy()


def main(argv=None):
    p = argparse.ArgumentParser(prog="tools.export classifier", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="a preset name, a folder of images or of IDX files")
    p.add_argument("--out", default=None, help="directory (default: tools/export/judges/<data name>)")
    p.add_argument("--size", type=int, default=None, help="image size: the model's (default: the images' own)")
    p.add_argument("--channels", type=int, choices=(1, 3), default=None, help="the model's (default: the data's)")
    p.add_argument("--steps", type=int, default=2000, help="optimiser steps of batch 128 (at least 4 epochs)")
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    options = data_mod.Options(size=args.size, channels=args.channels)
    train, held = data_mod.load(args.data, "train", options), data_mod.load(args.data, "heldout", options)
    if not train.classes:
        raise UserError(f"{train.name} has no classes: a judge needs them (an unconditional model is calibrated "
                        "against its own full depth, with no judge)")
    xtr, ytr = torch.from_numpy(train.model_range()), torch.from_numpy(train.labels)
    xte, yte = torch.from_numpy(held.model_range()), torch.from_numpy(held.labels)
    model = Classifier(len(train.classes), train.channels, train.size)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    batch = min(128, len(xtr))
    steps = max(args.steps, 4 * (len(xtr) // batch))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    started = time.time()
    gen = torch.Generator().manual_seed(0)
    model.train()
    for step in range(steps):
        idx = torch.randint(0, len(xtr), (batch,), generator=gen)
        x = augment(xtr[idx], gen)
        loss = F.cross_entropy(model(x)[0], ytr[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if (step + 1) % 200 == 0:
            print(f"step {step + 1}/{steps}: loss {loss.item():.3f} ({time.time() - started:.0f} s)", flush=True)
    model.eval()
    logits, feats = features_of(model, xte)
    accuracy = (logits.argmax(1) == yte).float().mean().item()
    out = args.out or os.path.dirname(default_judge(args.data))
    os.makedirs(out, exist_ok=True)
    torch.save(model.state_dict(), os.path.join(out, "classifier.pt"))
    torch.onnx.export(
        model, (xte[:2],), os.path.join(out, "classifier.onnx"), opset_version=17,
        input_names=["image"], output_names=["logits", "features"],
        dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}, "features": {0: "batch"}}, **TRACED,
    )
    info = {
        "data": train.name,
        "dataId": train.id,
        "classes": train.classes,
        # "test": the held-out split, the reference samples are compared with (the key names predate
        # data sets other than Fashion-MNIST, whose held-out split is its test set)
        "testAccuracy": round(accuracy, 4),
        "heldOutImages": len(xte),
        "features": FEATURES,
        "input": {"dims": ["batch", train.channels, train.size, train.size], "valueRange": [-1, 1]},
        "testFeatureMean": feats.mean(0).round(6).tolist(),
        "testFeatureCov": np.cov(feats, rowvar=False).round(6).tolist(),
        "trainSeconds": round(time.time() - started, 1),
    }
    with open(os.path.join(out, "classifier.json"), "w") as f:
        json.dump(info, f)
    print(f"held-out accuracy {accuracy:.4f} on {len(xte)} images; wrote {out}/classifier.{{pt,onnx,json}}")


def augment(x, gen):
    """A mirror for half the batch and a shift of up to 2 pixels: the judge should not hang on either."""
    mirror = torch.rand(len(x), generator=gen) < 0.5
    x = torch.where(mirror[:, None, None, None], x.flip(3), x)
    dx, dy = (int(v) for v in torch.randint(-2, 3, (2,), generator=gen))
    return torch.roll(x, shifts=(dy, dx), dims=(2, 3))


if __name__ == "__main__":
    run_cli(main)
