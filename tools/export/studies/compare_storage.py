"""How much the int8 storage changes the samples: the same seeds through the fp32 weights and the
rounded ones, at full depth and at the manifest's default θ and settings. Reports each image's PSNR
against its fp32 twin, agreement, FID and blocks skipped for both, so the storage type is chosen
by measurement.

    /usr/bin/python3 -m tools.export compare-storage --checkpoint tools/export/checkpoints/fmnist-uvit13/shipped.pt \\
        --manifest public/models/fmnist-uvit13/manifest.json --per-class 100 \\
        --out docs/results/<model>/step<N>-storage-int8-<count>.json
"""

import argparse
import copy
import json
import time

import torch

from ..core.diffusion import make_schedule
from ..core.errors import UserError, run_cli
from ..pipeline.evaluate import add_data_args, evaluate_threshold, open_judge
from ..pipeline.export import load_model
from ..pipeline.quantize import quantize_weights_


def psnr(a, b, peak_to_peak=2.0):
    """Per image, in dB, for images in [-1, 1]; identical images give inf."""
    mse = ((a - b) ** 2).flatten(1).mean(1)
    return 10 * torch.log10(peak_to_peak**2 / mse)


def summarise(values):
    finite = values[torch.isfinite(values)]
    return {
        "identical": int((~torch.isfinite(values)).sum()),
        "median": round(float(finite.median()), 2) if len(finite) else None,
        "p5": round(float(finite.quantile(0.05)), 2) if len(finite) else None,
        "min": round(float(finite.min()), 2) if len(finite) else None,
    }


def main(argv=None):
    p = argparse.ArgumentParser(prog="tools.export compare-storage", description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--manifest", required=True, help="the sampling settings and default θ to compare under")
    add_data_args(p)
    p.add_argument("--per-class", type=int, default=20)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        with open(args.manifest) as f:
            d = json.load(f)["defaults"]
    except (OSError, KeyError, json.JSONDecodeError) as e:
        raise UserError(f"cannot read the defaults of {args.manifest}: {e}") from None
    fp32, cfg, ckpt = load_model(args.checkpoint)
    int8 = copy.deepcopy(fp32)
    rounded = quantize_weights_(int8)
    schedule = make_schedule(cfg["schedule"])
    judge = open_judge(args, ckpt)
    settings = dict(min_depth=d.get("minDepth", 1), batching=d.get("batching", "separate"),
                    uncond_every=d.get("unconditionalEvery", 1), guidance_max_t=d.get("guidanceMaxT"),
                    sampler=d["sampler"])
    started = time.time()
    rows = []
    for label, threshold, kwargs in [
        ("full depth", 0.0, dict(settings, batching="separate", uncond_every=1, guidance_max_t=None)),
        (f"default θ {d['threshold']}", d["threshold"], settings),
    ]:
        out = {}
        for name, model in (("fp32", fp32), ("int8", int8)):
            out[name] = evaluate_threshold(model, schedule, judge, threshold, args.per_class,
                                           d["steps"], d["guidance"], args.batch, args.seed, **kwargs)
        strip = lambda r: {k: v for k, v in r.items() if k != "depthByStep"}  # noqa: E731
        row = {"row": label, "fp32": strip(out["fp32"][0]), "int8": strip(out["int8"][0]),
               "psnrDb": summarise(psnr(out["fp32"][1], out["int8"][1]))}
        rows.append(row)
        print(json.dumps(row), flush=True)
    report = {"checkpoint": args.checkpoint, "manifestDefaults": d, "roundedTensors": rounded,
              "samples": fp32.num_classes * args.per_class, "seed": args.seed, "rows": rows,
              "seconds": round(time.time() - started, 1)}
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    run_cli(main)
