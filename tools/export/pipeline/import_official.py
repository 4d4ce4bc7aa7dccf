"""Import a checkpoint of the official AdaDiff code (Tangshengku/AdaDiff): its `nnet_ema.pth` and its
U-ViT config become a model folder the runtime loads, with the official exit head and exit rule.

    /usr/bin/python3 -m tools.export import-official --checkpoint nnet_ema.pth --config cifar10 \\
        --out public/models/adadiff-cifar10 [--storage int8] [--certainty-threshold 0.92]

--config is `cifar10` or `celeba64` (the two pixel-space models the authors publish: U-ViT-S/2 and
U-ViT-S/4, both unconditional), or a JSON file of the official UViT's constructor arguments. The
weights keep their official names (`in_blocks.N.attn.qkv`, `lte_classifer.N.lte`, …): the project's
U-ViT uses the same ones, and the official exit head is a head kind of its own here ("lte").

What changes on the way, and why (tools/export/official/NOTES.md has the reading of the official code):
- The official head is a certainty c; the manifest's blocks report the uncertainty 1 − mean(c), so
  the page's θ is 1 − the official threshold (0.92 → 0.08), and the official rule (certainty
  strictly above it; the second confident in-block; the first confident mid- or out-block) is the
  manifest's exit rule "official".
- Time is the official continuous VP-SDE (β 0.1 → 20), the network fed 999·t: the manifest's
  schedule "vp-continuous".
- The official eval samples 1000 Euler–Maruyama steps; the browser default here is DPM-Solver++ at
  20 steps (--steps, --sampler change it).
"""

import argparse
import os

import torch

from ..core.checkpoint import save_checkpoint
from ..core.config import from_dict, read_json_object
from ..core.errors import UserError, run_cli
from ..core.uvit import build
from .export import export_model, write_fixtures
from .quantize import STORAGE_TYPES, quantize_weights_

REPOSITORY = "https://github.com/Tangshengku/AdaDiff"

# the official configs (configs/*_uvit_small.py) and the thresholds their eval scripts use
BUILT_IN = {
    "cifar10": {
        "uvit": {"img_size": 32, "patch_size": 2, "in_chans": 3, "embed_dim": 512, "depth": 12, "num_heads": 8,
                 "mlp_ratio": 4, "qkv_bias": False, "mlp_time_embed": False, "num_classes": -1},
        "certainty_threshold": 0.92,
        "data": {"id": "cifar10", "name": "CIFAR-10",
                 "attribution": "CIFAR-10, Krizhevsky (2009); U-ViT-S/2 weights by the AdaDiff authors"},
    },
    "celeba64": {
        "uvit": {"img_size": 64, "patch_size": 4, "in_chans": 3, "embed_dim": 512, "depth": 12, "num_heads": 8,
                 "mlp_ratio": 4, "qkv_bias": False, "mlp_time_embed": False, "num_classes": -1},
        "certainty_threshold": 0.95,
        "data": {"id": "celeba64", "name": "CelebA 64×64",
                 "attribution": "CelebA, Liu et al. (2015); U-ViT-S/4 weights by the AdaDiff authors"},
    },
}
# the official UViT's constructor arguments, and what each means here
UVIT_ARGS = {"img_size", "patch_size", "in_chans", "embed_dim", "depth", "num_heads", "mlp_ratio", "qkv_bias",
             "qk_scale", "norm_layer", "mlp_time_embed", "num_classes", "use_checkpoint", "conv", "skip", "name"}
VP_SCHEDULE = {"type": "vp-continuous", "beta_min": 0.1, "beta_max": 20.0, "time_scale": 999, "t_min": 1e-3}


def read_config(given):
    """A built-in config's name, or a JSON file of the official UViT's constructor arguments."""
    if given in BUILT_IN:
        return BUILT_IN[given]
    uvit = read_json_object(given, f"--config (not {' or '.join(BUILT_IN)}):")
    unknown = sorted(set(uvit) - UVIT_ARGS)
    if unknown:
        raise UserError(f"--config {given}: {', '.join(unknown)} are not arguments of the official UViT")
    name = os.path.splitext(os.path.basename(given))[0]
    return {"uvit": uvit, "certainty_threshold": None, "data": {"id": name, "name": name}}


def model_config(uvit):
    """The official constructor arguments as this project's model config."""
    if uvit.get("skip", True) is not True:
        raise UserError("skip=False (no long skips) is not a U-ViT this runtime runs")
    if uvit.get("qk_scale") is not None:
        raise UserError("qk_scale other than the default (head_dim^-0.5) is not supported")
    num_classes = uvit.get("num_classes", -1)
    return {
        "img_size": uvit["img_size"], "patch_size": uvit.get("patch_size", 16), "in_chans": uvit.get("in_chans", 3),
        "embed_dim": uvit.get("embed_dim", 768), "depth": uvit.get("depth", 12),
        "num_heads": uvit.get("num_heads", 12), "mlp_ratio": float(uvit.get("mlp_ratio", 4.0)),
        "qkv_bias": uvit.get("qkv_bias", False), "num_classes": max(num_classes, 0), "conv": uvit.get("conv", True),
        "mlp_time_embed": uvit.get("mlp_time_embed", False), "exit_head": "lte", "exit_rule": "official",
    }


def read_state_dict(path):
    if not os.path.exists(path):
        raise UserError(f"checkpoint {path} not found")
    try:
        state = torch.load(path, map_location="cpu")
    except Exception as e:  # torch raises several types for a damaged zip or pickle
        raise UserError(f"{path} is not a PyTorch checkpoint ({type(e).__name__}: {e})") from None
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise UserError(f"{path} is not a bare state_dict (the official nnet_ema.pth is one)")
    return state


def check_keys(model, state, path):
    """Every key and shape of the checkpoint against the model the config describes; names what differs."""
    want = model.state_dict()
    missing = [k for k in want if k not in state]
    unexpected = [k for k in state if k not in want]
    shapes = [f"{k} {tuple(state[k].shape)} (the config gives {tuple(want[k].shape)})"
              for k in want if k in state and state[k].shape != want[k].shape]
    problems = []
    for what, keys in (("missing", missing), ("unexpected", unexpected), ("of another shape", shapes)):
        if keys:
            problems.append(f"{len(keys)} {what}: {', '.join(keys[:6])}{' …' if len(keys) > 6 else ''}")
    if problems:
        raise UserError(f"{path} does not fit the config: " + "; ".join(problems)
                        + ". Check --config (img_size, patch_size, embed_dim, depth, num_classes, mlp_time_embed).")


def imported_checkpoint(args):
    """The official weights as a tools/export checkpoint: config, EMA weights and data record."""
    spec = read_config(args.config)
    certainty = args.certainty_threshold if args.certainty_threshold is not None else spec["certainty_threshold"]
    if certainty is None:
        raise UserError("--certainty-threshold is needed with a config file (the official eval scripts use 0.92 for "
                        "CIFAR-10, 0.95 for CelebA)")
    if not 0 < certainty < 1:
        raise UserError(f"--certainty-threshold must lie in (0, 1), got {certainty}")
    mcfg = model_config(spec["uvit"])
    cfg = from_dict({
        "id": "imported",
        "model": mcfg,
        "schedule": VP_SCHEDULE,
        # the browser's default sampling: θ is 1 − the official certainty threshold (the manifest reads uncertainty)
        "sampling": {"steps": args.steps, "guidance": 1.0, "threshold": round(1.0 - certainty, 6),
                     "sampler": args.sampler},
    }, args.config)
    model = build(cfg["model"])
    if args.random_weights:  # the shape alone, for timing a model of that size
        torch.manual_seed(0)
        state = build(cfg["model"]).state_dict()
    else:
        state = read_state_dict(args.checkpoint)
        check_keys(model, state, args.checkpoint)
    dataset = {**spec["data"], "classes": [], "channels": mcfg["in_chans"], "size": mcfg["img_size"]}
    return {"config": cfg, "ema": state, "dataset": dataset, "step": 0, "images_seen": 0,
            "imported": {"from": REPOSITORY, "checkpoint": "random weights" if args.random_weights
                         else os.path.basename(args.checkpoint), "certaintyThreshold": certainty}}


def main(argv=None):
    p = argparse.ArgumentParser(prog="tools.export import-official", description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", default=None, help="the official nnet_ema.pth (a bare state_dict)")
    p.add_argument("--random-weights", action="store_true",
                   help="no checkpoint: random weights of the config's shape, to time a model of that size")
    p.add_argument("--config", required=True, help=f"{' or '.join(BUILT_IN)}, or a JSON file of UViT arguments")
    p.add_argument("--out", required=True, help="the model folder to write, e.g. public/models/adadiff-cifar10")
    p.add_argument("--certainty-threshold", type=float, default=None,
                   help="the official exit threshold (default: the eval script's, 0.92 CIFAR-10, 0.95 CelebA); "
                        "the manifest's θ is 1 − it")
    p.add_argument("--steps", type=int, default=20, help="default sampling steps in the manifest")
    p.add_argument("--sampler", default="dpmpp2m", help="default sampler in the manifest")
    p.add_argument("--storage", choices=STORAGE_TYPES, default="fp32")
    p.add_argument("--id", default=None, help="the model's id (default: the --out folder's name)")
    p.add_argument("--fixtures", default=None, help="also write parity and sampling fixtures here")
    p.add_argument("--save-checkpoint", default=None,
                   help="also save the imported weights as a tools/export checkpoint (for evaluate and the studies)")
    args = p.parse_args(argv)
    if (args.checkpoint is None) == (not args.random_weights):
        raise UserError("give --checkpoint nnet_ema.pth, or --random-weights to time the config's shape")
    ckpt = imported_checkpoint(args)
    cfg = ckpt["config"]
    model = build(cfg["model"])
    model.load_state_dict(ckpt["ema"])
    model.eval()
    if args.save_checkpoint:
        save_checkpoint(ckpt, args.save_checkpoint)
    if args.storage == "int8":
        quantize_weights_(model)
    cfg = dict(cfg, id=args.id or os.path.basename(os.path.normpath(args.out)))
    provenance = {"importedFrom": REPOSITORY, "checkpoint": ckpt["imported"]["checkpoint"],
                  "certaintyThreshold": ckpt["imported"]["certaintyThreshold"], "config": cfg, "weights": "EMA"}
    threshold = cfg["sampling"]["threshold"]
    manifest = export_model(model, cfg, args.out, provenance, threshold, storage=args.storage,
                            dataset=ckpt["dataset"], official_certainty=ckpt["imported"]["certaintyThreshold"])
    if args.fixtures:
        write_fixtures(model, cfg, args.fixtures, threshold, manifest)
    n = sum(p.numel() for p in model.parameters())
    print(f"imported {n / 1e6:.1f} M parameters into {args.out}: {len(manifest['segments']['blocks'])} blocks, "
          f"θ {threshold} (certainty {ckpt['imported']['certaintyThreshold']}), exit rule official")


if __name__ == "__main__":
    run_cli(main)
