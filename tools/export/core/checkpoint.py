"""Checkpoint files: written atomically, read with a clear error when truncated or foreign.

    /usr/bin/python3 -m tools.export checkpoint compact runs/X/weights.pt tools/export/checkpoints/ID/latest.pt

`compact` keeps the EMA weights (what export and evaluation read), the config and the counters, and
drops the raw weights and the optimiser: half the bytes of weights.pt, a quarter of checkpoint.pt. A
resume from it starts the raw weights from the EMA and re-warms AdamW; that is what a committed
resume point should cost the repository, whose history keeps every version.
"""

import argparse
import os

import torch

from .errors import UserError


def save_checkpoint(payload, path):
    tmp = path + ".tmp"
    torch.save(payload, tmp)
    os.replace(tmp, path)  # a crash mid-write never leaves a half-written checkpoint behind


def load_checkpoint(path, map_location="cpu"):
    if not os.path.exists(path):
        raise UserError(f"checkpoint {path} not found")
    try:
        ckpt = torch.load(path, map_location=map_location)
    except Exception as e:  # torch raises several types for a damaged zip or pickle
        raise UserError(
            f"checkpoint {path} is truncated or not a PyTorch checkpoint ({type(e).__name__}: {e}). "
            "Delete it and resume from an older one, or start afresh."
        ) from None
    if not isinstance(ckpt, dict):
        raise UserError(f"checkpoint {path} does not hold a state dict")
    return ckpt


def compact(src, dst):
    ckpt = load_checkpoint(src)
    if "ema" not in ckpt or "config" not in ckpt:
        raise UserError(f"{src} is not a tools/export training checkpoint (no config or EMA weights)")
    save_checkpoint({k: v for k, v in ckpt.items() if k not in ("model", "optimizer")}, dst)


def main(argv=None):
    p = argparse.ArgumentParser(prog="tools.export checkpoint", description="checkpoint maintenance")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("compact", help="keep the EMA weights, config and counters (a resume point to commit)")
    c.add_argument("src")
    c.add_argument("dst")
    args = p.parse_args(argv)
    compact(args.src, args.dst)


if __name__ == "__main__":
    from .errors import run_cli

    run_cli(main)
