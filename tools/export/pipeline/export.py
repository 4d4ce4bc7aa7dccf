"""Cut a trained model into per-block ONNX segments and write the manifest the runtime reads.

    /usr/bin/python3 -m tools.export export --checkpoint runs/fmnist-uvit13/weights.pt \
        --out public/models/fmnist-uvit13 --fixtures test/fixtures/fmnist-uvit13 [--threshold θ]

Writes embed.onnx, block_NN.onnx (hidden tokens + the UEM's mean uncertainty), head.onnx,
prefix.onnx (embed + the blocks below the minimum exit depth, fused), full.onnx (monolithic
full depth, the benchmark baseline) and manifest.json; with --fixtures,
the inputs and PyTorch outputs the Node parity check and the runtime tests compare against.
"""

import argparse
import datetime
import functools
import hashlib
import inspect
import json
import os
import re
import warnings

import numpy as np
import torch
import torch.nn as nn

from ..core.data import trained_on
from ..core.checkpoint import load_checkpoint
from .choose_default import read_report
from ..core.config import from_dict
from ..core.diffusion import make_schedule, sample
from ..core.errors import UserError, run_cli
from ..core.manifest import SamplingSettings, write_manifest
from ..core.noise import normal
from .quantize import STORAGE_TYPES, quantize_weights_, store_int8
from ..core.uvit import build

OPSET = 17
# PyTorch 2.9 made its dynamo exporter the default. These graphs are traced (dynamic_axes, the constant
# shapes uvit.py reads), and the dynamo path takes neither as such and needs onnxscript, which Debian
# lacks: where a torch lets one choose, ask for the TorchScript exporter
TRACED = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}


class EmbedGraph(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x, t, y=None):
        return self.model.embed(x, t, y)


class UnconditionalFull(nn.Module):
    """The monolithic baseline of a model with no classes: x and t in, no y."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x, t):
        return self.model(x, t)


class BlockGraph(nn.Module):
    """Block i with its UEM fused in: one session run per block gives tokens and uncertainty."""

    def __init__(self, model, i):
        super().__init__()
        self.model, self.i = model, i

    def forward(self, hidden, temb, skip=None):
        return block_with_uncertainty(self.model, self.i, hidden, temb, skip)


class TimelessBlockGraph(BlockGraph):
    """A block whose exit head reads no time (the official certainty head): no temb input, so the graph
    has none that ONNX would drop."""

    def forward(self, hidden, skip=None):
        return block_with_uncertainty(self.model, self.i, hidden, None, skip)


def block_with_uncertainty(model, i, hidden, temb, skip=None):
    h = model.run_block(i, hidden, skip)
    u = model.uncertainty(i, h, temb)
    return h, u.flatten(1).mean(dim=1)  # unpatchify only permutes: same mean


class PrefixGraph(nn.Module):
    """Embed and blocks 0..depth−1 in one graph. Exits before `depth` blocks are never taken under
    the calibrated minimum depth, so their separate session runs (one each, with a copy of the
    tokens in and out) buy nothing; one run replaces depth + 1. Outputs what the later blocks
    need: the last tokens, temb, every earlier block output a later block takes as its skip
    (hidden_NN), and all `depth` uncertainties so patience and traces stay as with segments."""

    def __init__(self, model, depth):
        super().__init__()
        self.model, self.depth = model, depth
        self.kept = prefix_skip_outputs(model, depth)

    def forward(self, x, t, y=None):
        h, temb = self.model.embed(x, t, y)
        outputs, unc = [], []
        for i in range(self.depth):
            src = self.model.skip_source(i)
            h, u = block_with_uncertainty(self.model, i, h, temb, None if src is None else outputs[src])
            outputs.append(h)
            unc.append(u)
        return (h, temb, torch.stack(unc, dim=1), *[outputs[j] for j in self.kept])


def prefix_skip_outputs(model, depth):
    """Blocks before the prefix's last whose output a block after the prefix takes as its skip."""
    later = {model.skip_source(k) for k in range(depth, model.num_blocks)}
    return [j for j in range(depth - 1) if j in later]


class HeadGraph(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, hidden):
        return self.model.head(hidden)


def flops(model):
    """Multiply-adds ×2 per image for each segment (matmuls and convs; norms and softmax ignored)."""
    D, L, N = model.embed_dim, model.extras + model.num_patches, model.num_patches
    P, HW = model.patch_dim, model.img_size**2
    per_block = 2 * (L * (3 * D * D + D * D + 8 * D * D) + 2 * L * L * D)
    uem = 2 * (N * D * P + D * P)
    blocks = []
    for i in range(model.num_blocks):
        f = per_block + uem
        if model.skip_source(i) is not None:
            f += 2 * L * 2 * D * D
        blocks.append(f)
    return {
        "embed": 2 * N * D * P,
        "blocks": blocks,
        "head": 2 * (N * D * P + 9 * HW * model.in_chans**2),
    }


def _export(module, args, path, input_names, output_names, storage="fp32"):
    dynamic = {n: {0: "batch"} for n in input_names + output_names}
    with warnings.catch_warnings():
        # uvit.py reads a model's token count and width as constants on purpose (only the batch varies)
        warnings.filterwarnings("ignore", "Converting a tensor to a Python integer", torch.jit.TracerWarning,
                                r"tools\.export\.core\.uvit$")
        torch.onnx.export(
            module,
            args,
            path,
            opset_version=OPSET,
            input_names=input_names,
            output_names=output_names,
            dynamic_axes=dynamic,
            do_constant_folding=True,
            **TRACED,
        )
    if storage == "int8":
        store_int8(path)


def _file_entry(out_dir, name, flop_count, inputs, outputs):
    path = os.path.join(out_dir, name)
    with open(path, "rb") as f:
        blob = f.read()
    return {
        "path": name,
        "bytes": len(blob),
        "sha256": hashlib.sha256(blob).hexdigest(),
        "flops": int(flop_count),
        "inputs": inputs,
        "outputs": outputs,
    }


def _io(name, dtype, dims):
    return {"name": name, "type": dtype, "dims": dims}


def model_inputs(model, x, t, y):
    """The graph inputs of embed, prefix and the monolithic graph: a model with no classes takes no y."""
    if model.num_classes > 0:
        return (x, t, y), ["x", "t", "y"]
    return (x, t), ["x", "t"]


def export_model(model, cfg, out_dir, provenance, threshold, calibration=None, sampling=None, prefix_depth=None,
                 storage="fp32", dataset=None, official_certainty=None):
    """Write every graph and manifest.json into out_dir; return the manifest.

    prefix_depth ≥ 2 also writes prefix.onnx (embed + that many blocks fused); the runtime uses it
    for passes that cannot exit earlier. Default: the calibrated minimum depth. storage "int8":
    the model's weights must already be rounded (quantize.quantize_weights_); each file then
    stores them as int8 with per-channel scales (quantize.store_int8). dataset: the checkpoint's
    record of its data (data.trained_on), for the class names and the manifest's data section."""
    os.makedirs(out_dir, exist_ok=True)
    export = functools.partial(_export, storage=storage)
    model.eval()
    D, L = model.embed_dim, model.extras + model.num_patches
    C, S = model.in_chans, model.img_size
    B = 2
    x = torch.randn(B, C, S, S)
    t = torch.tensor([10.0, 900.0])
    y = torch.tensor([1 % max(model.num_classes, 1), model.num_classes], dtype=torch.int64)
    image_args, names = model_inputs(model, x, t, y)
    xty = [_io("x", "float32", ["batch", C, S, S]), _io("t", "float32", ["batch"]), _io("y", "int64", ["batch"])]
    xty = xty[: len(names)]
    dataset = dataset or trained_on({})
    hidden = torch.randn(B, L, D)
    temb = torch.randn(B, D)
    f = flops(model)
    tok = ["batch", L, D]
    with torch.no_grad():
        export(EmbedGraph(model), image_args, os.path.join(out_dir, "embed.onnx"), names, ["hidden", "temb"])
        embed = _file_entry(out_dir, "embed.onnx", f["embed"], xty,
                            [_io("hidden", "float32", tok), _io("temb", "float32", ["batch", D])])
        blocks = []
        for i in range(model.num_blocks):
            name = f"block_{i:02d}.onnx"
            src = model.skip_source(i)
            timed = model.exit_head == "uem"
            ins = ["hidden"] + (["temb"] if timed else []) + ([] if src is None else ["skip"])
            block_args = (hidden,) + ((temb,) if timed else ()) + (() if src is None else (torch.randn(B, L, D),))
            graph = BlockGraph(model, i) if timed else TimelessBlockGraph(model, i)
            export(graph, block_args, os.path.join(out_dir, name), ins, ["hidden_out", "uncertainty"])
            entry = _file_entry(
                out_dir, name, f["blocks"][i],
                [_io(n, "float32", ["batch", D] if n == "temb" else tok) for n in ins],
                [_io("hidden_out", "float32", tok), _io("uncertainty", "float32", ["batch"])],
            )
            entry["skipFrom"] = src
            blocks.append(entry)
        export(HeadGraph(model), (hidden,), os.path.join(out_dir, "head.onnx"), ["hidden"], ["eps"])
        head = _file_entry(out_dir, "head.onnx", f["head"], [_io("hidden", "float32", tok)],
                           [_io("eps", "float32", ["batch", C, S, S])])
        sampling = sampling or SamplingSettings.from_config(cfg["sampling"], model.num_classes > 0)
        if prefix_depth is None:
            prefix_depth = sampling.min_depth
        prefix = None
        if prefix_depth >= 2:
            graph = PrefixGraph(model, prefix_depth)
            kept = [f"hidden_{j:02d}" for j in graph.kept]
            export(graph, image_args, os.path.join(out_dir, "prefix.onnx"), names,
                   ["hidden", "temb", "uncertainty"] + kept)
            prefix = _file_entry(
                out_dir, "prefix.onnx", f["embed"] + sum(f["blocks"][:prefix_depth]), embed["inputs"],
                [_io("hidden", "float32", tok), _io("temb", "float32", ["batch", D]),
                 _io("uncertainty", "float32", ["batch", prefix_depth])] + [_io(n, "float32", tok) for n in kept],
            )
            prefix["depth"] = prefix_depth
        full_graph = model if model.num_classes > 0 else UnconditionalFull(model)
        export(full_graph, image_args, os.path.join(out_dir, "full.onnx"), names, ["eps"])
        full = _file_entry(
            out_dir, "full.onnx", f["embed"] + sum(f["blocks"]) + f["head"] - sum(flops_uem(model)),
            embed["inputs"], [_io("eps", "float32", ["batch", C, S, S])],
        )
    classes = list(dataset["classes"])
    if len(classes) != model.num_classes:
        raise UserError(f"the checkpoint's data record names {len(classes)} classes, its model has "
                        f"{model.num_classes}")
    data_section = {"id": dataset["id"], "name": dataset["name"]}
    if "split" in dataset:  # not known for a checkpoint trained elsewhere
        data_section["split"] = dataset["split"]
    if dataset.get("attribution"):
        data_section["attribution"] = dataset["attribution"]
    return write_manifest(out_dir, {
        "id": cfg["id"],
        "name": f"U-ViT {model.num_blocks} blocks, width {D}, with AdaDiff exits ({dataset['name']})",
        "image": {"channels": C, "height": S, "width": S, "valueRange": [-1, 1]},
        "classes": classes,
        **({"nullClass": model.num_classes} if classes else {}),
        "data": data_section,
        "schedule": make_schedule(cfg["schedule"]).to_manifest(),
        "exit": {"head": model.exit_head, "rule": model.exit_rule,
                 **({"officialCertainty": official_certainty} if official_certainty is not None else {})},
        "architecture": {
            "type": "uvit",
            "embedDim": D,
            "tokens": L,
            "extraTokens": model.extras,
            "patchSize": model.patch_size,
            "numBlocks": model.num_blocks,
            "numInBlocks": model.num_in,
            "parameters": sum(p.numel() for p in model.parameters()),
        },
        "segments": {"embed": embed, "blocks": blocks, "head": head, **({"prefix": prefix} if prefix else {})},
        "baselines": {"monolithic": full},
        "defaults": sampling.to_defaults(threshold),
        "calibration": calibration or [],
        "storage": storage,
        "provenance": provenance,
    })


def flops_uem(model):
    D, N, P = model.embed_dim, model.num_patches, model.patch_dim
    return [2 * (N * D * P + D * P)] * model.num_blocks


class FixtureWriter:
    """Tensors into one little-endian float32/int64 .bin with a JSON index (exact and compact)."""

    def __init__(self):
        self.chunks, self.index, self.offset = [], {}, 0

    def add(self, name, tensor):
        arr = tensor.detach().cpu().numpy() if torch.is_tensor(tensor) else np.asarray(tensor)
        dtype = "int64" if arr.dtype.kind in "iu" else "float32"
        blob = arr.astype("<i8" if dtype == "int64" else "<f4").tobytes()
        self.index[name] = {"dtype": dtype, "dims": list(arr.shape), "offset": self.offset, "bytes": len(blob)}
        self.chunks.append(blob)
        self.offset += len(blob)

    def write(self, out_dir, meta):
        os.makedirs(out_dir, exist_ok=True)
        with open(os.path.join(out_dir, "fixtures.bin"), "wb") as f:
            for c in self.chunks:
                f.write(c)
        with open(os.path.join(out_dir, "fixtures.json"), "w") as f:
            json.dump({**meta, "tensors": self.index}, f, indent=1)
            f.write("\n")


def choose_fixture_seed(model, schedule, label, steps, guidance, threshold, margin=1e-3, tries=50, min_depth=1,
                        batching="separate", uncond_every=1, guidance_max_t=None, sampler="ddim"):
    """A seed whose adaptive run has no uncertainty within `margin` of θ, so float differences between
    PyTorch and ONNX Runtime cannot flip an exit decision."""
    S = model.img_size
    for seed in range(1, tries + 1):
        noise = torch.from_numpy(normal(seed, model.in_chans * S * S)).reshape(1, model.in_chans, S, S)
        _, trace = sample(model, schedule, label, noise, steps, guidance, threshold, min_depth=min_depth,
                          batching=batching, uncond_every=uncond_every, guidance_max_t=guidance_max_t, sampler=sampler)
        values = [u for rec in trace for key in ("unc_cond", "unc_uncond") for row in rec.get(key, []) for u in row]
        if all(abs(u - threshold) > margin for u in values):
            return seed
    raise UserError(f"no seed in 1..{tries} keeps every uncertainty {margin} away from θ={threshold}")


def write_fixtures(model, cfg, out_dir, threshold, manifest, sampling=None):
    """Segment parity inputs/outputs and two whole sampling runs with the default sampler (full depth and
    at θ) with their exit decisions."""
    torch.manual_seed(0)
    schedule = make_schedule(cfg["schedule"])
    S, C = model.img_size, model.in_chans
    fx = FixtureWriter()
    x = torch.randn(2, C, S, S)
    t = torch.tensor([37.0, 811.0])
    y = torch.tensor([min(3, model.num_classes - 1), model.num_classes], dtype=torch.int64)
    if model.num_classes == 0:
        y = None  # a model with no classes takes none
    with torch.no_grad():
        fx.add("segments.x", x)
        fx.add("segments.t", t)
        if y is not None:
            fx.add("segments.y", y)
        h, temb = model.embed(x, t, y)
        fx.add("segments.hidden", h)
        fx.add("segments.temb", temb)
        outputs = []
        for i in range(model.num_blocks):
            src = model.skip_source(i)
            h_next, u = BlockGraph(model, i)(h, temb, None if src is None else outputs[src])
            outputs.append(h_next)
            fx.add(f"segments.block{i}.hidden_out", h_next)
            fx.add(f"segments.block{i}.uncertainty", u)
            fx.add(f"segments.block{i}.eps", model.head(h_next))
            h = h_next
        fx.add("segments.eps", model(x, t, y))

    sampling = sampling or SamplingSettings.from_config(cfg["sampling"], model.num_classes > 0)
    steps = min(sampling.steps, 10)
    guidance, min_depth, batching, sampler = sampling.guidance, sampling.min_depth, sampling.batching, sampling.sampler
    uncond_every, guidance_max_t = sampling.uncond_every, sampling.guidance_max_t
    label = torch.tensor([0])
    seed = choose_fixture_seed(model, schedule, label, steps, guidance, threshold, min_depth=min_depth,
                               batching=batching, uncond_every=uncond_every, guidance_max_t=guidance_max_t,
                               sampler=sampler)
    noise = torch.from_numpy(normal(seed, C * S * S)).reshape(1, C, S, S)
    fx.add("sampling.noise", noise)
    runs = {}
    # full: the model run whole (both passes at every step, the runtime's mode 'full'); adaptive: the
    # manifest's defaults
    for name, theta, how, every, max_t in (("full", 0.0, "separate", 1, None),
                                           ("adaptive", threshold, batching, uncond_every, guidance_max_t)):
        # full: threshold 0 lets no block exit, and the settings above run both passes at every step
        img, trace = sample(model, schedule, label, noise, steps, guidance, theta, min_depth=min_depth,
                            batching=how, uncond_every=every, guidance_max_t=max_t, sampler=sampler)
        fx.add(f"sampling.{name}.image", img)
        runs[name] = {"mode": name, "threshold": theta, "uncondEvery": every, "guidanceMaxT": max_t, "trace": trace}
    meta = {
        "model": manifest["id"],
        "manifestSha256": hashlib.sha256(json.dumps(manifest["segments"], sort_keys=True).encode()).hexdigest(),
        "sampling": {"seed": seed, "class": 0, "steps": steps, "guidance": guidance, "minDepth": min_depth,
                     "batching": batching, "sampler": sampler, "eta": 0.0, "runs": runs},
    }
    fx.write(out_dir, meta)


def provenance_from(ckpt, cfg):
    hardware = ckpt.get("hardware", [])
    train_images = trained_on(ckpt)["split"]["train"]
    return {
        "config": cfg,
        "optimizerSteps": int(ckpt.get("step", 0)),
        "imagesSeen": int(ckpt.get("images_seen", 0)),
        "epochs": round(ckpt.get("images_seen", 0) / train_images, 2),
        "finalLosses": ckpt.get("last", {}),
        "trainingHours": round(ckpt.get("train_seconds", 0.0) / 3600, 3),
        "hardware": [{"hardware": h.get("hardware"), "hours": round(h.get("seconds", 0) / 3600, 3)} for h in hardware],
        "weights": "EMA",
        "exportedAt": datetime.datetime.utcnow().replace(microsecond=0).isoformat() + "Z",
        "exporter": f"tools/export (PyTorch {torch.__version__}, opset {OPSET})",
    }


def load_model(checkpoint_path):
    ckpt = load_checkpoint(checkpoint_path)
    if "config" not in ckpt or "ema" not in ckpt:
        raise UserError(f"{checkpoint_path} is not a tools/export training checkpoint (no config or EMA weights)")
    cfg = from_dict(ckpt["config"], checkpoint_path)
    model = build(cfg["model"])
    model.load_state_dict(ckpt["ema"])
    model.eval()
    return model, cfg, ckpt


def main(argv=None):
    p = argparse.ArgumentParser(prog="tools.export export", description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--out", required=True, help="model directory, e.g. public/models/<id>")
    p.add_argument("--fixtures", default=None, help="directory for parity and sampling fixtures")
    p.add_argument("--id", default=None,
                   help="the model's id in its manifest (default: the --out folder's name, which is how the page "
                        "and the CLI name a model in public/models)")
    p.add_argument("--threshold", type=float, default=None, help="default θ (default: the config's)")
    p.add_argument("--calibration", default=None,
                   help="evaluate.py JSON report to record in the manifest; its guidance, steps, min depth, "
                        "batching, unconditional interval and guidance interval, under which θ was measured, "
                        "become the manifest's defaults")
    p.add_argument("--storage", choices=STORAGE_TYPES, default="fp32",
                   help="how the files store the weights: int8 rounds them to one scale per output channel "
                        "(the fixtures and the calibration must come from the same rounded weights)")
    p.add_argument("--prefix-depth", type=int, default=None,
                   help="fuse embed and this many blocks into prefix.onnx (default: the min depth; 1 = none)")
    args = p.parse_args(argv)
    model, cfg, ckpt = load_model(args.checkpoint)
    calibration, threshold = None, args.threshold
    sampling = SamplingSettings.from_config(cfg["sampling"], conditional=model.num_classes > 0)
    if args.storage == "int8":
        quantize_weights_(model)
    if args.calibration:
        report = read_report(args.calibration, ("calibration", "default", "steps", "guidance"))
        measured = report.get("storage", "fp32")
        if measured != args.storage:
            raise UserError(f"{args.calibration} was measured on {measured} weights, not {args.storage}: "
                            f"run tools.export evaluate with --storage {args.storage}")
        calibration = report["calibration"]
        sampling = sampling.with_report(report)
        if threshold is None and report["default"] is not None:
            threshold = report["default"]["threshold"]
        elif threshold is None:
            print(f"{args.calibration} chose no default θ (none kept the bounds): the config's θ "
                  f"{cfg['sampling']['threshold']} stays, outside them")
    if threshold is None:
        threshold = cfg["sampling"]["threshold"]
    if not 0 <= threshold <= 1:
        raise UserError(f"--threshold must be in [0, 1], got {threshold}")
    min_depth = sampling.min_depth
    if args.prefix_depth is not None and not 1 <= args.prefix_depth <= min_depth:
        # the page loads the prefix instead of its blocks, so the default min depth must not exit inside it
        raise UserError(f"--prefix-depth must be in 1..{min_depth} (the min depth θ was calibrated with), "
                        f"got {args.prefix_depth}")
    model_id = args.id or os.path.basename(os.path.normpath(args.out))
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", model_id):
        raise UserError(f"model id {model_id!r} must be letters, digits, dot, dash or underscore: pass --id")
    cfg = dict(cfg, id=model_id)
    manifest = export_model(model, cfg, args.out, provenance_from(ckpt, cfg), threshold, calibration, sampling,
                            args.prefix_depth, args.storage, trained_on(ckpt))
    if args.fixtures:
        write_fixtures(model, cfg, args.fixtures, threshold, manifest, sampling)
    n = len(manifest["segments"]["blocks"])
    fused = manifest["segments"].get("prefix")
    also = f", prefix.onnx (embed + {fused['depth']} blocks)" if fused else ""
    print(f"exported {n} block segments, embed, head{also} and full.onnx to {args.out}")


if __name__ == "__main__":
    run_cli(main)
