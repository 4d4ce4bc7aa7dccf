"""A small Fashion-MNIST classifier: judges whether samples show the requested class, and its
penultimate features give an FID that fits 28×28 grey images (Inception features do not).

    /usr/bin/python3 -m tools.export classifier --out tools/export/eval

Writes classifier.pt, classifier.onnx (outputs logits and features; for the TypeScript eval,
kept out of public/ so the page never downloads it) and classifier.json (test accuracy and the
test set's feature mean and covariance, the FID reference).
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

FEATURES = 128


class Classifier(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.drop = nn.Dropout(0.3)
        self.fc = nn.Linear(64 * 7 * 7, FEATURES)
        self.out = nn.Linear(FEATURES, num_classes)

    def forward(self, x):
        """x in [-1, 1], [B, 1, 28, 28] → (logits, features)."""
        features = F.relu(self.fc(self.conv(x).flatten(1)))
        return self.out(self.drop(features)), features


def load_classifier(path):
    if not os.path.exists(path):
        raise UserError(f"classifier {path} not found: train it with `python3 -m tools.export classifier`")
    model = Classifier()
    model.load_state_dict(torch.load(path, map_location="cpu"))
    return model.eval()


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
    p.add_argument("--out", default="tools/export/eval")
    p.add_argument("--data", default=None)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    xtr, ytr = data_mod.load("train", args.data)
    xte, yte = data_mod.load("test", args.data)
    xtr = torch.from_numpy(data_mod.to_model_range(xtr))
    ytr = torch.from_numpy(ytr.astype(np.int64))
    xte = torch.from_numpy(data_mod.to_model_range(xte))
    yte = torch.from_numpy(yte.astype(np.int64))
    model = Classifier()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    steps = args.epochs * (len(xtr) // 128)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    started = time.time()
    model.train()
    for epoch in range(args.epochs):
        perm = torch.randperm(len(xtr))
        for i in range(0, len(xtr) - 127, 128):
            idx = perm[i : i + 128]
            x = torch.where(torch.rand(len(idx), 1, 1, 1) < 0.5, xtr[idx], xtr[idx].flip(3))  # mirror: clothes are symmetric
            loss = F.cross_entropy(model(x)[0], ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        print(f"epoch {epoch + 1}: loss {loss.item():.3f} ({time.time() - started:.0f} s)", flush=True)
    model.eval()
    logits, feats = features_of(model, xte)
    accuracy = (logits.argmax(1) == yte).float().mean().item()
    os.makedirs(args.out, exist_ok=True)
    torch.save(model.state_dict(), os.path.join(args.out, "classifier.pt"))
    torch.onnx.export(
        model, (xte[:2],), os.path.join(args.out, "classifier.onnx"), opset_version=17,
        input_names=["image"], output_names=["logits", "features"],
        dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}, "features": {0: "batch"}},
    )
    info = {
        "testAccuracy": round(accuracy, 4),
        "features": FEATURES,
        "input": {"dims": ["batch", 1, 28, 28], "valueRange": [-1, 1]},
        "testFeatureMean": feats.mean(0).round(6).tolist(),
        "testFeatureCov": np.cov(feats, rowvar=False).round(6).tolist(),
        "trainSeconds": round(time.time() - started, 1),
    }
    with open(os.path.join(args.out, "classifier.json"), "w") as f:
        json.dump(info, f)
    print(f"test accuracy {accuracy:.4f}; wrote {args.out}/classifier.{{pt,onnx,json}}")


if __name__ == "__main__":
    run_cli(main)
