"""Exit-policy diagnostics: is the FID cost of early exits in *where* the exits are taken, or in
the exits themselves? Samples like evaluate.py (same seeds, guidance passes batched and exiting
together) under policies the runtime does not ship, and reports blocks skipped, agreement, FID:

    /usr/bin/python3 -m tools.export diagnose --checkpoint tools/export/checkpoints/fmnist-uvit13/shipped.pt \
        --policy oracle --values 0.001,0.003,0.005 --min-depth 5 --guidance 1.25 --per-class 30

  uem     the shipped test: exit at the first block whose mean UEM uncertainty is ≤ value (both passes)
  oracle  exit at the first block whose *true* ε gap to the final block (mean squared, the larger of
          the two passes) is ≤ value: what a perfect per-sample exit test would do
  static  full depth on every value-th step, block --min-depth on the others

--residual adds, on an exit at block k, the deep blocks' contribution h_L − h_k remembered from the
sample's last full-depth step before the head (DeepCache-style feature reuse); --refresh N forces
full depth every N-th step so that memory stays fresh. --uncond-scale S (uem) lets the two guidance
passes exit apart, the unconditional one at θ·S (S = g/|1 − g| is evaluate's --batching weighted);
--uncond-min-depth gives it its own floor.

Every block runs at every step (an exit picks among them, as adaptive_eps does), so a row costs
a full-depth sampling run whatever it skips.
"""

import argparse
import json
import time

import numpy as np
import torch

from ..core.diffusion import ddim_step, first_confident, make_schedule
from ..core.errors import UserError, run_cli
from ..pipeline.evaluate import add_data_args, number_list, open_judge, seeded_inputs
from ..pipeline.export import block_with_uncertainty, load_model


@torch.no_grad()
def every_block(model, x, t, y):
    """Each block's tokens [B, L, tokens, dim] and mean UEM uncertainty [B, L] for one step."""
    h, temb = model.embed(x, t, y)
    outputs, unc = [], []
    for i in range(model.num_blocks):
        src = model.skip_source(i)
        h, u = block_with_uncertainty(model, i, h, temb, None if src is None else outputs[src])
        outputs.append(h)
        unc.append(u)
    return torch.stack(outputs, 1), torch.stack(unc, 1)


def exit_blocks(model, policy, value, step, hidden, unc, batch, min_depth, uncond_scale=0.0, uncond_min_depth=None):
    """The block each pass exits at: [2 * batch], conditional passes first.

    uncond_scale 0: each conditional pass and its unconditional one exit together (batched);
    s > 0 (uem only): they exit apart, the unconditional pass at θ·s on its own uncertainty.
    """
    last = model.num_blocks - 1
    if uncond_scale:
        if policy != "uem":
            raise ValueError("--uncond-scale applies to the uem policy")
        return torch.cat([
            first_confident(unc[:batch] <= value, 0.0, min_depth),
            first_confident(unc[batch:] <= value * uncond_scale, 0.0, uncond_min_depth or min_depth),
        ])
    if policy == "static":
        block = last if step % int(value) == 0 else min_depth - 1
        return torch.full((2 * batch,), block, dtype=torch.long)
    if policy == "uem":
        confident = (unc[:batch] <= value) & (unc[batch:] <= value)
    elif policy == "oracle":
        rows = hidden.shape[0]
        eps = model.head(hidden.flatten(0, 1)).reshape(rows, model.num_blocks, -1)
        gap = ((eps - eps[:, last : last + 1]) ** 2).mean(2)
        confident = torch.maximum(gap[:batch], gap[batch:]) <= value
    else:
        raise ValueError(f"unknown policy {policy!r}")
    exits = first_confident(confident, 0.0, min_depth)
    return torch.cat([exits, exits])


@torch.no_grad()
def sample_with_policy(
    model, schedule, y, noise, steps, guidance, policy, value, min_depth=1, residual=False, refresh=0,
    uncond_scale=0.0, uncond_min_depth=None,
):
    """DDIM with classifier-free guidance under an exit policy; returns images, blocks run, passes."""
    batch, last = len(y), model.num_blocks - 1
    x = noise
    ts = schedule.timesteps(steps)
    both = torch.cat([y, torch.full_like(y, model.num_classes)])
    rows = torch.arange(2 * batch)
    memory = None  # each pass's tokens at every block on its last full-depth step
    blocks_run = 0
    for k, t in enumerate(ts):
        ab_t = schedule.alpha_bar(t)
        ab_prev = schedule.alpha_bar(ts[k + 1] if k + 1 < len(ts) else -1)
        hidden, unc = every_block(model, torch.cat([x, x]), torch.full((2 * batch,), float(t)), both)
        exits2 = exit_blocks(model, policy, value, k, hidden, unc, batch, min_depth, uncond_scale, uncond_min_depth)
        if refresh and k % refresh == 0:
            exits2[:] = last
        if residual and memory is None:
            exits2[:] = last  # nothing remembered yet: the first step runs full depth
        h = hidden[rows, exits2]
        if residual:
            h = h + memory[rows, last] - memory[rows, exits2] if memory is not None else h
            full = exits2 == last
            memory = hidden.clone() if memory is None else torch.where(full[:, None, None, None], hidden, memory)
        eps_c, eps_u = model.head(h).chunk(2)
        x, _ = ddim_step(x, eps_u + guidance * (eps_c - eps_u), ab_t, ab_prev)
        blocks_run += int((exits2 + 1).sum())
    return x.clamp(-1, 1), blocks_run, 2 * batch * steps


def main(argv=None):
    p = argparse.ArgumentParser(prog="tools.export diagnose", description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True)
    add_data_args(p)
    p.add_argument("--policy", choices=["uem", "oracle", "static"], required=True)
    p.add_argument("--values", required=True, help="comma-separated: θ (uem), ε-gap bound (oracle), N (static)")
    p.add_argument("--residual", action="store_true", help="add the deep blocks' remembered contribution on exits")
    p.add_argument("--refresh", type=int, default=0, help="full depth every N-th step (0: never forced)")
    p.add_argument("--uncond-scale", type=float, default=0.0,
                   help="uem: the passes exit apart, the unconditional one at θ times this (0: together)")
    p.add_argument("--uncond-min-depth", type=int, default=None,
                   help="with --uncond-scale: the unconditional pass's own minimum depth (default --min-depth)")
    p.add_argument("--per-class", type=int, default=30)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--guidance", type=float, default=None,
                   help="default: the checkpoint config's (1.75 for the shipped one, as its manifest)")
    p.add_argument("--min-depth", type=int, default=1)
    p.add_argument("--batch", type=int, default=150)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    values = number_list("--values", args.values)
    if not values or any(not np.isfinite(v) or v < 0 for v in values):
        raise UserError("--values must be finite numbers ≥ 0")
    if args.policy == "static" and any(v < 1 or v != int(v) for v in values):
        raise UserError("--values for the static policy are step intervals: integers ≥ 1")

    model, cfg, ckpt = load_model(args.checkpoint)
    if not 1 <= args.min_depth <= model.num_blocks:
        raise UserError(f"--min-depth must be in 1..{model.num_blocks}, got {args.min_depth}")
    schedule = make_schedule(cfg["schedule"])
    steps = args.steps or cfg["sampling"]["steps"]
    guidance = args.guidance or cfg["sampling"]["guidance"]
    judge = open_judge(args, ckpt)
    labels, noise = seeded_inputs(model, args.per_class, args.seed)
    for value in values:
        started = time.time()
        images, run, passes = [], 0, 0
        for i in range(0, len(labels), args.batch):
            img, r, n = sample_with_policy(
                model, schedule, labels[i : i + args.batch], noise[i : i + args.batch], steps, guidance,
                args.policy, value, args.min_depth, args.residual, args.refresh, args.uncond_scale,
                args.uncond_min_depth,
            )
            images.append(img)
            run, passes = run + r, passes + n
        agreement, fid = judge.score(torch.cat(images), labels)
        print(json.dumps({
            "policy": args.policy,
            "value": value,
            "residual": args.residual,
            "refresh": args.refresh,
            "uncondScale": args.uncond_scale,
            "uncondMinDepth": args.uncond_min_depth,
            "savedFraction": round(1 - run / (passes * model.num_blocks), 4),
            "agreement": round(agreement, 4),
            "fid": round(fid, 3),
            "samples": len(labels),
            "seconds": round(time.time() - started, 1),
        }), flush=True)


if __name__ == "__main__":
    run_cli(main)
