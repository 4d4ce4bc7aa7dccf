"""Token-level early exit (issue #19): within a pass, a patch token whose UEM uncertainty is at most
θ_tok stops being updated, so depth follows the image, not only the timestep.

The rule, simulated exactly on a batch (every block is computed, and a frozen token's update is
thrown away, which is what a real exit computes):

- from the minimum depth on, after each block, a patch token whose uncertainty — the UEM's
  per-pixel map averaged over its patch — is ≤ θ_tok is frozen: it keeps its hidden state, later
  blocks still read that state as key and value (and an out-block still fuses its skip into it),
  and the head reads each token's last state;
- the pass itself ends as today: when every patch token is frozen, or at the step-level rule (the
  whole map's mean ≤ θ), or at the last block;
- the oracle freezes a token when its true gap to the full-depth estimate (the squared difference
  of the head on its current state and the head at full depth, averaged over its patch) is ≤ τ:
  the ceiling of any rule that decides per token.

FLOPs are counted per token: a token that goes on pays qkv, attention over all tokens, proj, the
MLP (and an out-block's skip fusion) and its UEM; a frozen token that later blocks read pays its
skip fusion and its key and value projections. Savings are against full depth (every block of both
guidance passes at every step), split by source as the runtime splits blocks.

    /usr/bin/python3 -m tools.export token-exit --checkpoint tools/export/checkpoints/fmnist-uvit13/shipped.pt \\
        --per-class 100 --rules step:0.1,uem:0.03,oracle:3e-4 --no-guidance-schedule --out runs/token/exits.json
"""

import argparse
import json
import os
import time
from typing import NamedTuple, Optional

import torch

from ..core import data as data_mod
from ..core.diffusion import adaptive_eps, make_schedule, switch_depths
from ..core.errors import UserError, run_cli
from ..pipeline.evaluate import add_data_args, evaluate_threshold, open_judge
from ..pipeline.export import load_model

RULES = ("full", "step", "uem", "oracle", "switch")


class Rule(NamedTuple):
    name: str
    value: float  # θ (step), θ_tok (uem), τ (oracle), the shallow depth (switch)
    step_theta: float  # the step-level θ that also ends a pass
    switch_t: Optional[int] = None  # switch: the shallow depth runs at t > this


def token_flops(model):
    """FLOPs of one block for one token that goes on, and for one that is frozen, per block."""
    D, L, P = model.embed_dim, model.extras + model.num_patches, model.patch_dim
    hidden = int(model.blocks[0].mlp.fc1.out_features)
    active, frozen = [], []
    for i in range(model.num_blocks):
        skip = 2 * 2 * D * D if model.skip_source(i) is not None else 0
        active.append(skip + 2 * D * 3 * D + 4 * L * D + 2 * D * D + 2 * 2 * D * hidden + 2 * D * P)
        frozen.append(skip + 2 * 2 * D * D)
    return active, frozen


def per_patch(m, model):
    """[B, C, H, W] → [B, num_patches]: the mean over each patch, in the tokens' order."""
    B, C = m.shape[:2]
    g, p = model.grid, model.patch_size
    return m.reshape(B, C, g, p, g, p).mean(dim=(1, 3, 5)).reshape(B, g * g)


class TokenExit:
    """One exit rule as sample()'s `denoise`, counting the FLOPs it runs."""

    def __init__(self, model, rule, theta_tok=0.0):
        if rule not in RULES:
            raise UserError(f"rule must be one of {', '.join(RULES)}, got {rule!r}")
        self.model, self.rule, self.theta_tok = model, rule, theta_tok
        self.active, self.frozen = token_flops(model)
        D, P = model.embed_dim, model.patch_dim
        L = model.extras + model.num_patches
        # embed (patch projection) and head (LN, decoder, 3×3 conv): paid once per pass either way
        self.fixed = 2 * model.num_patches * D * P + 2 * (L * D * P + 9 * model.img_size**2 * model.in_chans**2)
        self.full_pass = self.fixed + sum(self.active) * L
        self.run = {"exits": 0.0, "fixedDepth": 0.0}  # FLOPs saved against full depth, by source
        self.passes = 0
        self.spent = 0.0
        self.frozen_by_block = torch.zeros(model.num_blocks)

    @torch.no_grad()
    def __call__(self, model, x, t, y, threshold, min_depth):
        B = x.shape[0]
        self.passes += B
        if self.rule in ("full", "step", "switch"):
            # a switch schedule's depth arrives as θ 1 and min_depth (sample()'s depths)
            eps, exit_block, unc = adaptive_eps(model, x, t, y, 0.0 if self.rule == "full" else threshold, min_depth)
            spent = sum(self.fixed + sum(self.active[: int(e) + 1]) * (model.extras + model.num_patches)
                        for e in exit_block)
            self._count(spent, B, threshold)
            return eps, exit_block, unc
        return self._token_pass(model, x, t, y, threshold, min_depth)

    def _count(self, spent, B, threshold):
        self.spent += spent
        # θ 1 is a depth fixed ahead ('shallow''s unconditional pass, static baselines)
        self.run["fixedDepth" if threshold >= 1.0 else "exits"] += B * self.full_pass - spent

    def _token_pass(self, model, x, t, y, threshold, min_depth):
        B, E, N = x.shape[0], model.extras, model.num_patches
        eps_full = model(x, t, y) if self.rule == "oracle" else None
        h, temb = model.embed(x, t, y)
        frozen = torch.zeros(B, N, dtype=torch.bool)
        ended = torch.zeros(B, dtype=torch.bool)
        exit_block = torch.full((B,), model.num_blocks - 1, dtype=torch.long)
        outputs, unc = [], []
        spent = torch.full((B,), float(self.fixed), dtype=torch.float64)
        for i in range(model.num_blocks):
            src = model.skip_source(i)
            new = model.run_block(i, h, None if src is None else outputs[src])
            keep = torch.cat([ended[:, None].expand(B, E), frozen | ended[:, None]], dim=1)
            h = torch.where(keep[:, :, None], h, new)
            outputs.append(h)
            n_frozen = (frozen & ~ended[:, None]).sum(1).double()
            n_active = (~ended).double() * (E + N) - n_frozen
            spent += n_active * self.active[i] + n_frozen * self.frozen[i]
            self.frozen_by_block[i] += (frozen | ended[:, None]).float().mean(1).sum()
            u_map = model.uncertainty_map(i, h, temb)
            unc.append(u_map.reshape(B, -1).mean(1))
            if i + 1 < min_depth or i == model.num_blocks - 1:
                continue
            if self.rule == "uem":
                score = per_patch(u_map, model)
            else:
                score = per_patch((model.head(h) - eps_full) ** 2, model)
            frozen |= score <= self.theta_tok
            stop = ~ended & (frozen.all(1) | (unc[-1] <= threshold))
            exit_block[stop] = i
            ended |= stop
        eps = model.head(h)
        self._count(float(spent.sum()), B, threshold)
        return eps, exit_block, torch.stack(unc, dim=1)

    def report(self, samples, steps, guided_reference=True):
        """Savings against full depth: every block of both passes (one without guidance) at every step."""
        per_step = 2 if guided_reference else 1
        reference = samples * steps * per_step * self.full_pass
        ran = self.passes * self.full_pass
        return {
            "flopsSaved": round(1 - self.spent / reference, 4),
            "flopsSavedByExits": round(self.run["exits"] / reference, 4),
            "flopsSavedBySchedule": round((reference - ran) / reference, 4),
            "flopsSavedByFixedDepth": round(self.run["fixedDepth"] / reference, 4),
        }


@torch.no_grad()
def gap_correlation(model, schedule, images, labels, timesteps, block, seed=1234, tau=1e-3):
    """How well block `block`'s UEM ranks its tokens by their true gap to full depth, on real images
    noised to each t: Pearson correlation of the per-patch UEM score with the per-patch squared gap
    (log scale, as the gaps span decades), the two medians, and how many of the tokens the oracle at τ
    freezes the UEM would freeze at the same count. No sampling: a cheap check of a UEM before a
    1000-sample frontier."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for t_value in timesteps:
        ab = schedule.ab(torch.full((images.shape[0],), t_value, dtype=torch.long))
        noise = torch.randn(images.shape, generator=gen)
        x = ab.sqrt()[:, None, None, None] * images + (1 - ab).sqrt()[:, None, None, None] * noise
        t = torch.full((images.shape[0],), float(t_value))
        eps, unc = model.forward_exits(x, t, labels)
        score = per_patch(unc[block], model).flatten()
        gap = per_patch((eps[block] - eps[-1]) ** 2, model).flatten()
        pair = torch.stack([score, gap.clamp_min(1e-12).log()])
        out.append({"t": t_value, "pearsonLogGap": round(float(torch.corrcoef(pair)[0, 1]), 3),
                    "medianScore": round(float(score.median()), 4), "medianGap": float(f"{float(gap.median()):.3g}"),
                    **decision_overlap(score, gap, tau)})
    return out


def decision_overlap(score, gap, tau):
    """The oracle freezes the tokens with gap ≤ τ; a UEM that froze as many (its lowest scores) should
    freeze the same ones, and each one it gets wrong costs its gap."""
    chosen = gap <= tau
    k = int(chosen.sum())
    picked = torch.zeros_like(chosen)
    picked[score.argsort()[:k]] = True
    return {"oracleFrozen": round(k / gap.numel(), 3),
            "sameTokens": round(float((picked & chosen).sum()) / max(1, k), 3),
            "frozenGapMean": float(f"{float(gap[picked].mean()) if k else 0.0:.3g}"),
            "oracleGapMean": float(f"{float(gap[chosen].mean()) if k else 0.0:.3g}")}


def parse_rules(text):
    """'full', 'step:θ', 'uem:θ_tok', 'oracle:τ' or 'switch:D@T' (DuoDiff's static switch: D blocks at
    t > T, full depth below), a token rule optionally with the step rule beside it ('uem:0.03/0.1':
    tokens freeze at 0.03 and the whole pass ends at the map's mean ≤ 0.1) → [Rule]."""
    rules = []
    for item in text.split(","):
        name, colon, value = item.strip().partition(":")
        if name not in RULES:
            raise UserError(f"--rules: {name!r} is not one of {', '.join(RULES)} (e.g. step:0.1,uem:0.03,oracle:3e-4)")
        if name == "full":
            if colon:
                raise UserError(f"--rules: {item!r}: full takes no value")
            rules.append(Rule(name, 0.0, 0.0))
            continue
        if name == "switch":
            depth, at, switch_t = value.partition("@")
            try:
                numbers = int(depth), int(switch_t)
            except ValueError:
                numbers = None
            if not (at and numbers and numbers[0] >= 1):
                raise UserError(f"--rules: {item!r}: a switch is depth@t, e.g. switch:6@199 (6 blocks at t > 199)")
            rules.append(Rule(name, float(numbers[0]), 0.0, numbers[1]))
            continue
        token, slash, step = value.partition("/")
        if slash and name == "step":
            raise UserError(f"--rules: {item!r}: only a token rule takes a step θ after '/' (e.g. uem:0.03/0.1)")
        try:
            numbers = float(token), float(step) if slash else 0.0
        except ValueError:
            raise UserError(f"--rules: {item!r} needs a number after the colon (e.g. {name}:0.05)") from None
        rules.append(Rule(name, numbers[0], numbers[0] if name == "step" else numbers[1]))
    return rules


def main(argv=None):
    p = argparse.ArgumentParser(prog="tools.export token-exit", description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True)
    add_data_args(p)
    p.add_argument("--rules", default="full,step:0.1,uem:0.03,uem:0.06,oracle:3e-4",
                   help="full | step:θ | uem:θ_tok[/θ] | oracle:τ[/θ] | switch:D@T, comma-separated; each is one "
                        "frontier point (a token rule with /θ also ends the pass by the step rule)")
    p.add_argument("--per-class", type=int, default=100)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--guidance", type=float, default=1.75)
    p.add_argument("--sampler", default="dpmpp2m")
    p.add_argument("--min-depth", type=int, default=5)
    p.add_argument("--no-guidance-schedule", action="store_true",
                   help="guide every step with a fresh unconditional pass exiting by the same rule (what "
                        "the exits save alone); default: the shipped schedule (shallow, every 2nd, t ≤ 800)")
    p.add_argument("--seed", type=int, default=1234, help="the same draw as tools.export evaluate")
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--correlation", type=int, default=0, metavar="N",
                   help="only report (on stdout) how the UEM at the minimum-depth block ranks tokens by their true gap, on N "
                        "test images noised to t 400, 200 and 99, against the oracle at τ 1e-3")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.per_class < 1 or args.steps < 1:
        raise UserError(f"--per-class and --steps must be ≥ 1, got {args.per_class} and {args.steps}")
    rules = parse_rules(args.rules)
    if args.out and not os.path.isdir(os.path.dirname(os.path.abspath(args.out))):
        raise UserError(f"--out {args.out}: its folder does not exist (create it first)")
    model, cfg, ckpt = load_model(args.checkpoint)
    too_deep = [r for r in rules if r.name == "switch" and r.value > model.num_blocks]
    if too_deep:
        raise UserError(f"--rules: a switch depth of {int(too_deep[0].value)} exceeds the model's {model.num_blocks} blocks")
    schedule = make_schedule(cfg["schedule"])
    if args.correlation:
        held = data_mod.load(args.data or data_mod.source_of(ckpt), "heldout", data_mod.Options.from_config(cfg))
        x0 = torch.from_numpy(held.model_range()[: args.correlation])
        y = torch.from_numpy(held.labels[: args.correlation])
        rows = gap_correlation(model, schedule, x0, y, (400, 200, 99), args.min_depth - 1, args.seed)
        print(json.dumps({"checkpoint": args.checkpoint, "images": args.correlation, "block": args.min_depth,
                          "rows": rows}))
        return
    judge = open_judge(args, ckpt)
    settings = (dict(batching="separate", uncond_every=1, guidance_max_t=None) if args.no_guidance_schedule
                else dict(batching="shallow", uncond_every=2, guidance_max_t=800))
    rows = []
    started = time.time()
    header = {"checkpoint": args.checkpoint, "steps": args.steps, "guidance": args.guidance, "sampler": args.sampler,
              "minDepth": args.min_depth, "guidanceSchedule": not args.no_guidance_schedule, "seed": args.seed}
    timesteps = schedule.timesteps(args.steps)
    for name, value, step_theta, switch_t in rules:
        rule = TokenExit(model, name, value if name in ("uem", "oracle") else 0.0)
        full = name == "full"
        kwargs = dict(batching="separate", uncond_every=1, guidance_max_t=None) if full else settings
        depths = switch_depths(timesteps, switch_t, int(value), model.num_blocks) if name == "switch" else None
        row, _ = evaluate_threshold(
            model, schedule, judge, step_theta, args.per_class, args.steps,
            args.guidance, args.batch, args.seed, args.min_depth, sampler=args.sampler, denoise=rule, depths=depths,
            **kwargs)
        samples = model.num_classes * args.per_class
        row = {"rule": name, "value": value, "stepThreshold": step_theta,
               **({"switchT": switch_t} if name == "switch" else {}), **rule.report(samples, args.steps, args.guidance != 1.0),
               **{k: row[k] for k in ("savedFraction", "agreement", "fid", "samples")},
               "frozenByBlock": [round(float(v) / max(1, rule.passes), 3) for v in rule.frozen_by_block]}
        rows.append(row)
        print(json.dumps(row), flush=True)
        if args.out:  # after every row: a run stopped part-way keeps what it measured
            report = {**header, "rows": rows, "seconds": round(time.time() - started, 1)}
            with open(args.out + ".tmp", "w") as f:
                json.dump(report, f, indent=2)
                f.write("\n")
            os.replace(args.out + ".tmp", args.out)  # a stop mid-write never truncates the rows before it


if __name__ == "__main__":
    run_cli(main)
