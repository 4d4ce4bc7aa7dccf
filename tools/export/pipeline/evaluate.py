"""Sample N images per class at full depth and at several thresholds; report class agreement,
classifier-FID against the held-out split, PSNR to the full-depth samples, and the fraction of
blocks skipped; pick the default θ.

    /usr/bin/python3 -m tools.export evaluate --checkpoint runs/fmnist-uvit13/weights.pt \
        --per-class 20 --thresholds 0.05,0.1,0.15 --out runs/fmnist-uvit13/eval.json

The judge is a classifier trained on the data's training split (`tools.export classifier`; by
default judges/<data>/classifier.pt). With it, the default θ is the largest saving whose agreement
stays within --max-drop (2 points) of full depth and whose FID is at most --max-fid-ratio (1.10) ×
full depth's, on this draw of seeds. Without one (`--judge none`, and always for a model with no
classes) the bound is the mean PSNR of each θ's samples to the full-depth samples of the same seeds
(--min-psnr). tools.export choose-default applies the same bounds across several draws. Same seeds
at every θ, so differences come from the exits alone.

--guidance takes a list (e.g. 1,1.5,2,3): each is sampled at full depth, the one with the best
agreement (then the lower FID) becomes the model's default, and θ is calibrated at it. The
best scale depends on how far training has come: an under-trained model loses agreement at
high guidance, so it is measured, not assumed.
"""

import argparse
import json
import time

import numpy as np
import torch

from .choose_default import MAX_AGREEMENT_DROP, MAX_FID_RATIO, MIN_PSNR, within_bounds
from ..core.data import Options, load as load_data, source_of, trained_on
from .classifier import default_judge, features_of, load_classifier, read_info
from ..core.diffusion import BATCHINGS, SAMPLERS, adaptive_eps, make_schedule, sample, sample_dpm_solver_fast
from ..core.errors import UserError, run_cli
from .export import load_model
from ..core.manifest import SamplingSettings
from ..core.noise import normal
from .quantize import STORAGE_TYPES, quantize_weights_


def frechet_distance(mu1, cov1, mu2, cov2):
    """‖μ1−μ2‖² + Tr(Σ1 + Σ2 − 2(Σ1Σ2)^½), with the root through symmetric eigendecompositions."""
    w, v = np.linalg.eigh(cov1)
    sqrt1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    inner = np.linalg.eigvalsh(sqrt1 @ cov2 @ sqrt1)
    tr_sqrt = np.sqrt(np.clip(inner, 0, None)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(cov1) + np.trace(cov2) - 2 * tr_sqrt)


def number_list(flag, text, what="comma-separated numbers"):
    """A flag's comma-separated numbers, or a UserError naming the flag."""
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UserError(f"{flag} must be {what}, got {text!r}") from None


RUNTIME_FIRST_SEED = 1000  # `adadiff eval` draws image k (class-major) from seed 1000 + k (src/cli/eval.ts)
NOISES = ("torch", "runtime")


def seeded_inputs(model, per_class, seed, noise="torch"):
    """per_class labels of each class in order, and their starting noise: the same draw at every θ
    and in every tool that compares against this one's rows. noise "torch": one torch draw from
    seed; "runtime": the runtime's seeded noise, image by image as `adadiff eval` draws it, so the
    two evaluations see identical inputs and their rows differ only by how each implementation runs."""
    labels = torch.arange(max(model.num_classes, 1)).repeat_interleave(per_class)  # no classes: per_class images
    shape = (model.in_chans, model.img_size, model.img_size)
    if noise == "runtime":
        size = int(np.prod(shape))
        draws = [normal(RUNTIME_FIRST_SEED + k, size).reshape(shape) for k in range(len(labels))]
        return labels, torch.from_numpy(np.stack(draws))
    gen = torch.Generator().manual_seed(seed)
    return labels, torch.randn(len(labels), *shape, generator=gen)


class Judge:
    """A data set's classifier and its held-out split's feature statistics (μ, Σ): the FID reference."""

    def __init__(self, path):
        self.path = path
        self.classifier = load_classifier(path)
        self.info = read_info(path)
        self.reference = (np.array(self.info["testFeatureMean"]), np.array(self.info["testFeatureCov"]))

    def score(self, images, labels):
        """Class agreement with the requested labels, and FID against the held-out split."""
        logits, feats = features_of(self.classifier, images)
        agreement = (logits.argmax(1) == labels).float().mean().item()
        return agreement, frechet_distance(feats.mean(0), np.cov(feats, rowvar=False), *self.reference)

    def describe(self):
        return (f"classifier {self.path}, trained on the training split, {self.info['testAccuracy']:.1%} on the "
                f"held-out split; FID in its {self.info['features']}-d features against the held-out split")


def add_data_args(p):
    """--data and --judge, as every command that judges samples takes them."""
    p.add_argument("--data", default=None,
                   help="the data the model was trained on: a preset, a folder of images or of IDX files "
                        "(default: the checkpoint's)")
    p.add_argument("--judge", "--classifier", dest="judge", default=None,
                   help="classifier.pt trained on that data (`tools.export classifier`; default: "
                        "judges/<data>/classifier.pt), or 'none': quality as PSNR to full depth alone")


def open_judge(args, ckpt):
    """The judge --judge names (or the data's default one), or None for 'none' and for a model with no
    classes, which nothing can judge for class agreement."""
    if args.judge == "none" or not trained_on(ckpt)["classes"]:
        return None
    return Judge(args.judge or default_judge(args.data or source_of(ckpt)))


def real_floor(judge, train, per_class, seed=0):
    """The real-data floor: per_class training images of each class, judged like the samples. Class
    agreement is then the judge's accuracy on images it was trained on, and the FID what real images
    score against the held-out statistics at this sample count. They come from the training split,
    never from the reference, so that a small held-out split is not compared with itself. A model's
    figures mean something only beside these."""
    gen = np.random.default_rng(seed)
    counts = np.bincount(train.labels, minlength=len(train.classes))
    if per_class > counts.min():
        raise UserError(f"--per-class {per_class}: the training split has only {counts.min()} images of class "
                        f"{train.classes[int(counts.argmin())]!r}, too few for a floor of that count")
    picked = np.concatenate([gen.choice(np.flatnonzero(train.labels == c), per_class, replace=False)
                             for c in range(len(train.classes))])
    agreement, fid = judge.score(torch.from_numpy(train.model_range()[picked]), torch.from_numpy(train.labels[picked]))
    return {"agreement": round(agreement, 4), "fid": round(fid, 3), "samples": len(picked), "images": "training split"}


def psnr(images, reference):
    """Mean PSNR (dB) of each image to the reference image of the same seed, in the [-1, 1] range (a
    peak of 2): how far the exits moved a sample from what full depth draws, with no judge needed."""
    mse = ((images - reference) ** 2).reshape(len(images), -1).mean(1).clamp_min(1e-12)
    return float((10 * torch.log10(4.0 / mse)).mean())


def nearest_distances(queries, pool, batch=256):
    """Each query's RMS pixel distance to its nearest image in pool, and that image's index."""
    q = queries.reshape(len(queries), -1).double()
    p = pool.reshape(len(pool), -1).double()
    p2 = (p**2).sum(1)
    best, where = [], []
    for i in range(0, len(q), batch):
        d = (q[i : i + batch] ** 2).sum(1, keepdim=True) - 2 * q[i : i + batch] @ p.T + p2[None]
        v, k = d.clamp_min(0).min(1)
        best.append((v / q.shape[1]).sqrt())
        where.append(k)
    return torch.cat(best).float(), torch.cat(where)


def memorisation(samples, train, heldout, mirrored):
    """How near samples come to training images, against how near unseen real images come: each
    image's RMS pixel distance to its nearest training image (and mirror, when training mirrored).
    A model that copies its training set has samples far nearer than held-out images are."""
    pool = torch.from_numpy(train.model_range())
    if mirrored:
        pool = torch.cat([pool, pool.flip(3)])
    d_samples, nearest = nearest_distances(samples, pool)
    d_held, _ = nearest_distances(torch.from_numpy(heldout.model_range()), pool)
    q05 = float(torch.quantile(d_held, 0.05))

    def stats(d):
        return {"count": len(d), "q05": round(float(torch.quantile(d, 0.05)), 4),
                "median": round(float(torch.quantile(d, 0.5)), 4)}

    return {
        "distance": "RMS pixel distance in [-1, 1] to the nearest training image"
                    + (" or its mirror" if mirrored else ""),
        "samples": stats(d_samples),
        "heldOut": stats(d_held),
        # nearer than all but 5 % of unseen real images come: as near as a copy
        "samplesNearerThanHeldOutQ05": round(float((d_samples < q05).float().mean()), 4),
    }, pool[nearest]


def evaluate_threshold(
    model, schedule, judge, threshold, per_class, steps, guidance, batch, seed, min_depth=1,
    batching="separate", uncond_every=1, guidance_max_t=None, noise="torch", sampler="ddim", depths=None,
    denoise=adaptive_eps,
):
    labels, noise = seeded_inputs(model, per_class, seed, noise)
    images, blocks_run, passes = [], 0, 0
    # blocks skipped against full depth, by source (the runtime's savedByExits / BySchedule / ByFixedDepth)
    skipped = {"exits": 0, "schedule": 0, "fixedDepth": 0}
    depth_by_step = np.zeros(steps)  # mean blocks of the passes run at each sampling step: the exit pattern
    passes_by_step = np.zeros(steps)
    blocks_per_image = np.zeros(len(labels))  # every pass of every step: does depth follow the image?
    gen = torch.Generator().manual_seed(seed + 1)
    for i in range(0, len(labels), batch):
        x_start = noise[i : i + batch]
        stochastic = sampler in ("ddpm", "euler-maruyama")
        step_noise = torch.randn(steps, *x_start.shape, generator=gen) if stochastic else None
        if sampler == "dpm-solver-fast":  # `steps` network evaluations; unconditional models
            img, trace = sample_dpm_solver_fast(model, schedule, x_start, steps, threshold, min_depth, denoise=denoise)
        else:
            img, trace = sample(
                model, schedule, labels[i : i + batch], x_start, steps, guidance, threshold,
                min_depth=min_depth, batching=batching, uncond_every=uncond_every, guidance_max_t=guidance_max_t,
                sampler=sampler, step_noise=step_noise, depths=depths, denoise=denoise,
            )
        images.append(img)
        for k, rec in enumerate(trace):
            for key in ("exit_cond", "exit_uncond"):
                if key in rec:
                    blocks_per_image[i : i + len(rec[key])] += np.array(rec[key]) + 1
                    blocks_run += sum(e + 1 for e in rec[key])
                    passes += len(rec[key])
                    depth_by_step[k] += sum(e + 1 for e in rec[key])
                    passes_by_step[k] += len(rec[key])
                    # a static baseline, and 'shallow''s unconditional pass, fix the depth ahead
                    fixed = depths is not None or (key == "exit_uncond" and batching == "shallow")
                    source = "fixedDepth" if fixed else "exits"
                    skipped[source] += sum(model.num_blocks - (e + 1) for e in rec[key])
            if rec.get("uncond_reused") or rec.get("unguided"):
                passes += len(rec["exit_cond"])  # skipped whole: full depth would have run it
                skipped["schedule"] += len(rec["exit_cond"]) * model.num_blocks
    images = torch.cat(images)
    reference_blocks = passes * model.num_blocks
    scores = {}
    if judge is not None:
        agreement, fid = judge.score(images, labels)
        scores = {"agreement": round(agreement, 4), "fid": round(fid, 3)}
    return {
        "threshold": threshold,
        "savedFraction": round(1 - blocks_run / reference_blocks, 4),
        "savedByExits": round(skipped["exits"] / reference_blocks, 4),
        "savedBySchedule": round(skipped["schedule"] / reference_blocks, 4),
        "savedByFixedDepth": round(skipped["fixedDepth"] / reference_blocks, 4),
        **scores,
        "samples": len(labels),
        "depthByStep": [round(d / n, 2) for d, n in zip(depth_by_step, passes_by_step)],
        "blocksPerImage": depth_spread(blocks_per_image, labels.numpy(), model.num_classes),
    }, images


def depth_spread(blocks, labels, num_classes):
    """Blocks run per image (all steps and passes): their spread, split into what lies between the
    classes' means and what lies within a class. Depth that follows the timestep alone spreads little
    either way; depth that follows the image spreads within a class, and across classes that differ."""
    classes = range(max(num_classes, 1))
    per_class = [blocks[labels == c] for c in classes]
    means = np.array([b.mean() for b in per_class])
    within = float(np.sqrt(np.mean([b.var() for b in per_class])))
    return {
        "mean": round(float(blocks.mean()), 2), "std": round(float(blocks.std()), 2),
        "min": int(blocks.min()), "max": int(blocks.max()),
        "withinClassStd": round(within, 2), "betweenClassStd": round(float(means.std()), 2),
        "byClass": [{"mean": round(float(b.mean()), 2), "min": int(b.min()), "max": int(b.max())} for b in per_class],
    }


def main(argv=None):
    p = argparse.ArgumentParser(prog="tools.export evaluate", description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True)
    add_data_args(p)
    p.add_argument("--per-class", type=int, default=20, help="images per class (a model with no classes: images)")
    p.add_argument("--thresholds", default="0.05,0.08,0.1,0.12,0.15,0.2")
    p.add_argument("--steps", type=int, default=None, help="default: the config's sampling steps")
    p.add_argument("--guidance", default=None,
                   help="guidance scale, or a comma-separated list whose lowest full-depth FID is kept "
                        "(default: the config's)")
    # every sampling setting defaults to the config's `sampling` block, which export also writes
    p.add_argument("--min-depth", type=int, default=None, help="no exit before this many blocks (the runtime's minDepth)")
    p.add_argument("--batching", choices=BATCHINGS, default=None,
                   help="how the guidance passes exit (the runtime's): on their own (separate; weighted: the "
                        "unconditional one at θ·g/|1−g|; shallow: the unconditional one at --min-depth) or together "
                        "as one batched pass (all)")
    p.add_argument("--uncond-every", type=int, default=None,
                   help="run the unconditional pass every N-th step and reuse it between (the runtime's "
                        "unconditionalEvery)")
    p.add_argument("--guidance-max-t", type=int, default=None,
                   help="guide only the steps with timestep t ≤ this; the noisier ones run the conditional pass "
                        "alone (the runtime's guidanceMaxT; every step: the last timestep)")
    p.add_argument("--sampler", choices=SAMPLERS + ("dpm-solver-fast",), default=None,
                   help="the runtime's samplers, stepped alike; dpm-solver-fast (PyTorch only: the official AdaDiff "
                        "training loop's, --steps network evaluations; continuous-time models with no classes)")
    p.add_argument("--full-only", action="store_true", help="full depth alone: no θ sweep (e.g. quality against steps)")
    p.add_argument("--real-floor", action="store_true",
                   help="also judge --per-class real training images per class: the floor the samples are read "
                        "against")
    p.add_argument("--memorisation", action="store_true",
                   help="also measure how near the full-depth samples come to training images, against how near "
                        "held-out images come")
    p.add_argument("--nn-grid", default=None,
                   help="with --memorisation: save a PNG of full-depth samples, each above its nearest training image")
    p.add_argument("--min-psnr", type=float, default=MIN_PSNR,
                   help="with no judge: the mean PSNR (dB) to the full-depth samples the default θ must keep")
    p.add_argument("--max-drop", type=float, default=MAX_AGREEMENT_DROP,
                   help="agreement drop allowed for the default θ (a fraction: 0.02 is 2 points)")
    p.add_argument("--max-fid-ratio", type=float, default=MAX_FID_RATIO,
                   help="FID allowed for the default θ, as a multiple of full depth's")
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--seed", type=int, default=1234, help="the torch draw's seed (--noise torch)")
    p.add_argument("--noise", choices=NOISES, default="torch",
                   help="starting noise: one torch draw from --seed, or the runtime's seeded noise as `adadiff eval` "
                        "draws it (seeds 1000 + k), to compare the two evaluations on identical inputs")
    p.add_argument("--storage", choices=STORAGE_TYPES, default="fp32",
                   help="evaluate the weights as export --storage stores them (int8: rounded per output channel)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", default=None, help="write the JSON report here (export.py --calibration reads it)")
    p.add_argument("--grid", default=None, help="save a PNG grid of the full-depth samples")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    thresholds = number_list("--thresholds", args.thresholds)
    if any(not 0 <= t <= 1 for t in thresholds):
        raise UserError("--thresholds must lie in [0, 1] (θ 0: no exit, the guidance schedule alone); full depth is "
                        "always evaluated")
    if not 0 <= args.max_drop < 1 or not args.max_fid_ratio >= 1:
        raise UserError("--max-drop must lie in [0, 1) and --max-fid-ratio must be ≥ 1")
    if args.uncond_every is not None and args.uncond_every < 1:
        raise UserError(f"--uncond-every must be ≥ 1, got {args.uncond_every}")
    if args.guidance_max_t is not None and args.guidance_max_t < 0:
        raise UserError(f"--guidance-max-t must be ≥ 0, got {args.guidance_max_t}")
    guidances = None
    if args.guidance is not None:
        guidances = number_list("--guidance", args.guidance, "a number or comma-separated numbers")
        if not guidances or any(not 0 < g <= 30 for g in guidances):
            raise UserError("--guidance must lie in (0, 30]")

    model, cfg, ckpt = load_model(args.checkpoint)
    settings = SamplingSettings.from_config(cfg["sampling"], model.num_classes > 0)
    if args.sampler == "dpm-solver-fast" and (model.num_classes > 0 or cfg["schedule"]["type"] != "vp-continuous"):
        raise UserError("--sampler dpm-solver-fast is the official training loop's sampler: for imported "
                        "continuous-time models with no classes")
    for flag in ("min_depth", "batching", "uncond_every", "sampler"):
        if getattr(args, flag) is None:
            setattr(args, flag, getattr(settings, flag))
    if args.guidance_max_t is None:
        args.guidance_max_t = settings.guidance_max_t
    if args.storage == "int8":
        quantize_weights_(model)
    if not 1 <= args.min_depth <= model.num_blocks:
        raise UserError(f"--min-depth must be in 1..{model.num_blocks}, got {args.min_depth}")
    schedule = make_schedule(cfg["schedule"])
    steps = args.steps or cfg["sampling"]["steps"]
    guidances = guidances or [cfg["sampling"]["guidance"]]
    if model.num_classes == 0:
        guidances = [1.0]  # nothing to guide towards: one pass per step
    judge = open_judge(args, ckpt)
    if judge is None and len(guidances) > 1:
        raise UserError("--guidance with several values needs a judge to pick one by FID")
    source = args.data or source_of(ckpt)
    needs_data = args.real_floor or args.memorisation
    train = load_data(source, "train", Options.from_config(cfg)) if needs_data else None

    started = time.time()
    floor = None
    if args.real_floor:
        if judge is None:
            raise UserError("--real-floor needs a judge (a model with classes, and --judge)")
        floor = real_floor(judge, train, args.per_class)
        print(json.dumps({"realFloor": floor}), flush=True)

    def run(threshold, guidance, full_depth=False):
        # the reference runs every block of both passes at every step, whatever the savings settings
        return evaluate_threshold(
            model, schedule, judge, threshold, args.per_class, steps, guidance, args.batch, args.seed,
            args.min_depth, "separate" if full_depth else args.batching, 1 if full_depth else args.uncond_every,
            None if full_depth else args.guidance_max_t, args.noise, args.sampler,
        )

    sweep = []
    for guidance in guidances:
        row, images = run(0.0, guidance, full_depth=True)
        sweep.append((dict(row, guidance=guidance), images))
        if len(guidances) > 1:
            print(json.dumps(sweep[-1][0]), flush=True)
    # By FID: agreement rises with guidance past the real images' own, which is over-sharpening, not quality.
    full, full_images = min(sweep, key=lambda s: (s[0].get("fid", 0), -s[0].get("agreement", 0)))
    guidance = full["guidance"]
    # the reference every saving is counted against, said outright (manifest calibration rows' mode)
    full = {"mode": "full", **{k: v for k, v in full.items() if k != "guidance"}}
    print(json.dumps(full), flush=True)
    if args.grid:
        save_grid(full_images, args.per_class, args.grid)
    memo = None
    if args.memorisation:
        heldout = load_data(source, "heldout", Options.from_config(cfg))
        memo, nearest = memorisation(full_images, train, heldout, cfg["train"]["hflip"])
        print(json.dumps({"memorisation": memo}), flush=True)
        if args.nn_grid:
            save_pairs(full_images, nearest, args.per_class, args.nn_grid)
    rows = [full]
    for threshold in [] if args.full_only else thresholds:
        row, images = run(threshold, guidance)
        row["psnr"] = round(psnr(images, full_images), 2)
        rows.append(row)
        print(json.dumps(row), flush=True)
    ok = [r for r in rows[1:] if within_bounds(r, full, args.max_drop, args.max_fid_ratio, args.min_psnr)]
    # none within the bounds: no default chosen, the one there was stays (choose_default's rule)
    default = max(ok, key=lambda r: r["savedFraction"]) if ok else None
    report = {
        "checkpointStep": int(ckpt.get("step", 0)),
        "seed": args.seed,
        "steps": steps,
        "guidance": guidance,
        "guidanceSweep": [s[0] for s in sweep],
        "minDepth": args.min_depth,
        "batching": args.batching,
        "uncondEvery": args.uncond_every,
        "guidanceMaxT": args.guidance_max_t,
        "sampler": args.sampler,
        "storage": args.storage,
        "perClass": args.per_class,
        "noise": args.noise,
        "judge": judge.describe() if judge else f"none: mean PSNR to the full-depth samples, ≥ {args.min_psnr:g} dB",
        **({"classifierTestAccuracy": judge.info["testAccuracy"]} if judge else {}),
        "data": trained_on(ckpt)["name"],
        "full": full,
        **({"realFloor": floor} if floor else {}),
        **({"memorisation": memo} if memo else {}),
        "calibration": rows,
        "default": default,
        "seconds": round(time.time() - started, 1),
    }
    print(json.dumps({"default": default, "full": full}))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=2)


def to_pixels(images):
    """[N, C, S, S] in [-1, 1] → uint8 [N, S, S, 3] (grey repeated), for pictures."""
    a = ((images.numpy() + 1) * 127.5).clip(0, 255).round().astype(np.uint8).transpose(0, 2, 3, 1)
    return np.repeat(a, 3, axis=3) if a.shape[3] == 1 else a


def save_grid(images, per_class, path, rows=10):
    """Up to `rows` samples of each class, a class per column (images come class-major)."""
    from PIL import Image  # only for this optional picture

    a = to_pixels(images)
    n, s = min(per_class, rows), a.shape[1]
    classes = len(a) // per_class
    a = a.reshape(classes, per_class, s, s, 3)[:, :n]
    grid = a.transpose(1, 2, 0, 3, 4).reshape(n * s, classes * s, 3)
    Image.fromarray(grid).resize((classes * s * 3, n * s * 3), Image.NEAREST).save(path)


def save_pairs(samples, nearest, per_class, path, columns=12):
    """Samples (a row) above their nearest training images (the row below), two per class."""
    from PIL import Image

    a, b = to_pixels(samples), to_pixels(nearest)
    pick = [k for c in range(len(a) // per_class) for k in range(c * per_class, c * per_class + min(2, per_class))]
    pick = pick[: columns * 4]
    s = a.shape[1]
    pad = columns - len(pick) % columns if len(pick) % columns else 0
    blank = np.full((s, s, 3), 255, np.uint8)
    tiles_a = [a[k] for k in pick] + [blank] * pad
    tiles_b = [b[k] for k in pick] + [blank] * pad
    bands = []
    for r in range(0, len(tiles_a), columns):
        bands.append(np.concatenate(tiles_a[r : r + columns], 1))
        bands.append(np.concatenate(tiles_b[r : r + columns], 1))
        bands.append(np.full((s // 4, columns * s, 3), 255, np.uint8))
    grid = np.concatenate(bands, 0)
    Image.fromarray(grid).resize((grid.shape[1] * 3, grid.shape[0] * 3), Image.NEAREST).save(path)


if __name__ == "__main__":
    run_cli(main)
