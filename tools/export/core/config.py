"""One JSON config per model; unknown keys are errors, so a typo never trains the wrong model."""

import copy
import json

from .diffusion import UEM_TARGETS
from .errors import UserError

# None in `model`: taken from the data (core/data.py) when training starts, and written out in full
# in the checkpoint's config.
FROM_DATA = ("img_size", "in_chans", "num_classes")

DEFAULTS = {
    "id": "model",
    "data": {
        "source": None,  # a preset name, a folder of images or a folder of IDX files; --data overrides
        "resize": "center-crop",  # how images of another size reach model.img_size (core/data.RESIZE_RULES)
        "background": [255, 255, 255],  # what transparent pixels are composited onto
        "heldout": 0.1,  # the fraction of each class of a folder kept out of training
    },
    "model": {
        "img_size": None,
        "patch_size": 4,
        "in_chans": None,
        "embed_dim": 128,
        "depth": 12,
        "num_heads": 4,
        "mlp_ratio": 4.0,
        "qkv_bias": False,
        "num_classes": None,
        "conv": True,
        "mlp_time_embed": False,  # upstream U-ViT's MLP on the time embedding
        "exit_head": "uem",  # AdaDiff's UEM ("uem") or the official code's certainty head ("lte")
        "exit_rule": "first",  # the first confident block ("first") or the official code's ("official")
    },
    # "ddpm-linear" (discrete, integer timesteps) uses the first three; "vp-continuous" (the official
    # AdaDiff code's, for imported checkpoints) the last four
    "schedule": {"type": "ddpm-linear", "num_timesteps": 1000, "beta_start": 1e-4, "beta_end": 0.02,
                 "beta_min": 0.1, "beta_max": 20.0, "time_scale": 999, "t_min": 1e-3},
    "train": {
        "batch_size": 64,
        "lr": 1e-3,
        "weight_decay": 0.03,
        "betas": [0.9, 0.99],
        "warmup_steps": 200,
        "decay_start": None,
        "decay_steps": 0,
        "min_lr_ratio": 0.1,
        "ema_decay": 0.999,
        "grad_clip": 1.0,
        "p_uncond": 0.1,
        "lambda_u": 1.0,
        "beta_ual": 1.0,
        "distill": 0.0,
        "min_snr_gamma": 5.0,
        "seed": 0,
        "log_every": 20,
        "checkpoint_minutes": 5.0,
        "train_uem_only": False,
        "uem_target": "noise",
        "hflip": False,  # mirror half of each batch: twice the data where mirrored images are plausible
    },
    # how the model samples by default: export writes these into manifest.defaults (with what an
    # evaluate report measured, when one is given), and evaluate calibrates θ under them
    "sampling": {
        "steps": 20,
        "guidance": 3.0,
        "threshold": 0.1,
        "sampler": "ddim",
        "min_depth": 1,  # no exit before this many blocks
        "batching": "separate",  # how the guidance passes exit (diffusion.BATCHINGS)
        "uncond_every": 1,  # the unconditional pass on every N-th guided step, reused between
        "guidance_max_t": None,  # guide only the steps with t ≤ this (None: every step)
    },
}


def _merge(defaults, given, path, source):
    out = copy.deepcopy(defaults)
    for key, value in given.items():
        where = f"{path}.{key}" if path else key
        if key not in defaults:
            known = ", ".join(sorted(defaults))
            raise UserError(f"{source}: unknown config key '{where}' (known here: {known})")
        if isinstance(defaults[key], dict):
            if not isinstance(value, dict):
                raise UserError(f"{source}: '{where}' must be an object")
            out[key] = _merge(defaults[key], value, where, source)
        else:
            out[key] = value
    return out


def _check(cfg, source):
    target = cfg["train"]["uem_target"]
    if target not in UEM_TARGETS:
        raise UserError(f"{source}: train.uem_target must be 'noise' (the paper's) or 'final' (the gap to the last "
                        f"block), got {target!r}")
    return cfg


def with_data(cfg, dataset):
    """The config with the model's image size, channels and class count taken from the data set; a
    count the config states and the data contradicts is an error, not a silent change of model."""
    cfg = copy.deepcopy(cfg)
    model = cfg["model"]
    found = {"img_size": dataset.size, "in_chans": dataset.channels, "num_classes": len(dataset.classes)}
    for key, value in found.items():
        if model[key] is not None and model[key] != value:
            raise UserError(f"the config says model.{key} {model[key]}, but the data ({dataset.name}) gives "
                            f"{value}: remove model.{key} from the config to take the data's, or use other data")
        model[key] = value
    return cfg


def read_json_object(path, what):
    """A JSON file that must hold an object; `what` names it in the error ("config file", "--config")."""
    try:
        with open(path) as f:
            given = json.load(f)
    except FileNotFoundError:
        raise UserError(f"{what} {path} not found") from None
    except json.JSONDecodeError as e:
        raise UserError(f"{what} {path} is not valid JSON: {e}") from None
    if not isinstance(given, dict):
        raise UserError(f"{what} {path} must hold a JSON object")
    return given


def load(path):
    return _check(_merge(DEFAULTS, read_json_object(path, "config file"), "", path), path)


def from_dict(given, source="config"):
    return _check(_merge(DEFAULTS, given, "", source), source)
