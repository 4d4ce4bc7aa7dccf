"""Checkpoint files: written atomically, read with a clear error when truncated or foreign."""

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
