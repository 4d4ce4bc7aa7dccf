"""Quality against blocks run for the adaptive exits and the static schedules a user could run
instead, each with and without the guidance schedule: the data behind BENCHMARKS.md's frontier plot.

    /usr/bin/python3 -m tools.export frontier --checkpoint tools/export/checkpoints/fmnist-uvit13/shipped.pt \
        --per-class 30 --out docs/results/<model>/step<N>-frontier-<count>-seed1234.json

Curves (same seeds everywhere, full depth as the reference): the adaptive θ sweep; a static depth
for every pass; and DuoDiff-style switch schedules (depth D at t > T, full depth below). The switch
(T, D) searched for is the one with the best FID among those that run as many blocks as the adaptive
default (within --match), found by counting blocks ahead (a static schedule's cost is known before
it runs) and sampling only those candidates. With the guidance schedule the unconditional pass is
skipped at t > guidance_max_t, reused on alternate guided steps and run shallow (at the minimum
depth) in every curve, as the runtime's defaults say; without it every step runs both passes, the
unconditional one as deep as the conditional one (static) or exiting on its own (adaptive). Results are appended as they come: a run that stops resumes.
"""

import argparse
import json
import os

from ..core.diffusion import make_schedule, switch_depths
from ..core.errors import UserError, run_cli
from ..pipeline.evaluate import add_data_args, evaluate_threshold, number_list, open_judge
from ..pipeline.export import load_model

# each curve runs with the model's own guidance schedule (its manifest's) and with this: the schedule off
NO_SCHEDULE = {"batching": "separate", "uncond_every": 1, "guidance_max_t": None}


def blocks_run_fraction(timesteps, depths, guidance, batching, uncond_every, guidance_max_t, min_depth, num_blocks):
    """Blocks a static schedule runs, as a fraction of full depth (both passes, every step), without
    sampling: the passes it runs are fixed by the guidance schedule, their depths by the schedule
    ('shallow' runs the unconditional pass at min_depth)."""
    run = full = 0
    guided = 0
    for t, d in zip(timesteps, depths):
        guide = guidance != 1.0 and (guidance_max_t is None or t <= guidance_max_t)
        uncond = guide and guided % uncond_every == 0
        guided += guide
        run += d + uncond * (min_depth if batching == "shallow" else d)
        full += num_blocks * (2 if guidance != 1.0 else 1)
    return run / full


def main(argv=None):
    p = argparse.ArgumentParser(prog="tools.export frontier", description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True)
    add_data_args(p)
    p.add_argument("--manifest", default="public/models/fmnist-uvit13/manifest.json",
                   help="the sampling settings every curve runs at (steps, sampler, guidance, min depth, θ, the "
                        "guidance schedule): the model's defaults")
    p.add_argument("--per-class", type=int, default=30)
    p.add_argument("--thresholds-schedule", default="0.015,0.025,0.04,0.06,0.1")
    p.add_argument("--thresholds-none", default="0.025,0.05,0.1,0.15,0.2")
    p.add_argument("--static-depths", default="5,7,9,11")
    p.add_argument("--switch-ts", default="900,700,500,300", help="T of the switch curve at the best D")
    p.add_argument("--match", type=float, default=0.02, help="how near in blocks run a switch candidate must be")
    p.add_argument("--confirm", default=None,
                   help="a finished run's JSON: sample only full depth, the adaptive default and that run's best "
                        "switch per setting (e.g. at 1000 samples, to check a 300-sample pick on more)")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)

    model, cfg, ckpt = load_model(args.checkpoint)
    schedule = make_schedule(cfg["schedule"])
    try:
        with open(args.manifest) as f:
            defaults = json.load(f)["defaults"]
    except (OSError, KeyError, json.JSONDecodeError) as e:
        raise UserError(f"cannot read the defaults of {args.manifest}: {e}") from None
    steps, guidance, sampler = defaults["steps"], defaults["guidance"], defaults["sampler"]
    args.min_depth, args.default_threshold = defaults.get("minDepth", 1), defaults["threshold"]
    own = {"batching": defaults.get("batching", "separate"), "uncond_every": defaults.get("unconditionalEvery", 1),
           "guidance_max_t": defaults.get("guidanceMaxT")}
    # a model with no guidance schedule has one curve, not two alike
    settings = {"none": NO_SCHEDULE} if own == NO_SCHEDULE else {"schedule": own, "none": NO_SCHEDULE}
    n = model.num_blocks
    ts = schedule.timesteps(steps)
    step = ckpt.get("step")
    report = {"checkpoint": args.checkpoint, "checkpointStep": None if step is None else int(step),
              "perClass": args.per_class, "steps": steps, "sampler": sampler, "guidance": guidance,
              "minDepth": args.min_depth, "defaultThreshold": args.default_threshold,
              "classes": max(model.num_classes, 1), "seed": args.seed, "settings": settings, "rows": []}
    if os.path.exists(args.out):
        with open(args.out) as f:
            earlier = json.load(f)
        # rows are reused by key, so they must come from the same weights, seeds and settings as this run
        differ = [k for k in ("checkpointStep", "perClass", "steps", "sampler", "guidance", "minDepth", "seed")
                  if earlier.get(k) != report[k]]
        if differ:
            raise UserError(f"{args.out} was made with other {', '.join(differ)} "
                            f"({', '.join(f'{k} {earlier.get(k)}' for k in differ)}); resume only the same run, "
                            "or give a new --out")
        report["rows"] = earlier["rows"]
    judge = open_judge(args, ckpt)
    done = {r["key"] for r in report["rows"]}

    def run(key, setting, curve, threshold=0.0, depths=None, full=False, **extra):
        if key in done:
            return next(r for r in report["rows"] if r["key"] == key)
        s = settings[setting]
        row, _ = evaluate_threshold(
            model, schedule, judge, threshold, args.per_class, steps, guidance, 100, args.seed,
            args.min_depth, "separate" if full else s["batching"], 1 if full else s["uncond_every"],
            None if full else s["guidance_max_t"], sampler=sampler, depths=depths,
        )
        row.update(key=key, setting=setting, curve=curve, **extra)
        report["rows"].append(row)
        done.add(key)
        with open(args.out, "w") as f:
            json.dump(report, f, indent=1)
        print(json.dumps({k: row[k] for k in ("key", "savedFraction", "agreement", "fid")}), flush=True)
        return row

    run("full", "none", "full", full=True)
    if args.confirm:
        with open(args.confirm) as f:
            # a setting this model does not run (a schedule it has no longer) has no rows to confirm
            picked = [r for r in json.load(f)["rows"] if r.get("bestSwitch") and r["setting"] in settings]
        for setting in settings:
            run(f"{setting}/adaptive/{args.default_threshold}", setting, "adaptive", threshold=args.default_threshold)
        for r in picked:
            row = run(r["key"], r["setting"], "switch-match", depths=switch_depths(ts, r["switchT"], r["shallowDepth"], n),
                      switchT=r["switchT"], shallowDepth=r["shallowDepth"])
            row["bestSwitch"] = True
        with open(args.out, "w") as f:
            json.dump(report, f, indent=1)
        return
    for setting in settings:
        s = settings[setting]
        thresholds = number_list(f"--thresholds-{setting}", getattr(args, f"thresholds_{setting}"))
        for theta in sorted({*thresholds, args.default_threshold}):
            run(f"{setting}/adaptive/{theta}", setting, "adaptive", threshold=theta)
        for depth in number_list("--static-depths", args.static_depths):
            run(f"{setting}/static/{int(depth)}", setting, "static", depths=[int(depth)] * steps, depth=int(depth))
        # the switch candidates that run as many blocks as the adaptive default
        target = 1 - run(f"{setting}/adaptive/{args.default_threshold}", setting, "adaptive")["savedFraction"]
        candidates = []
        # shallower than two blocks under the minimum depth loses the class (docs/research-log.md): not a contender
        for shallow in range(max(1, args.min_depth - 2), n):
            for k in range(1, steps + 1):  # T at each step boundary: the first k steps shallow
                switch_t = ts[k] if k < steps else -1
                depths = switch_depths(ts, switch_t, shallow, n)
                ran = blocks_run_fraction(ts, depths, guidance, s["batching"], s["uncond_every"], s["guidance_max_t"],
                                          args.min_depth, n)
                if abs(ran - target) <= args.match:
                    candidates.append((shallow, switch_t, depths))
        matched = [run(f"{setting}/switch/{t}/{d}", setting, "switch-match", depths=depths, switchT=t, shallowDepth=d)
                   for d, t, depths in candidates]
        if not matched:
            continue
        best = min(matched, key=lambda r: r["fid"])
        best["bestSwitch"] = True
        for switch_t in number_list("--switch-ts", args.switch_ts):
            d = best["shallowDepth"]
            run(f"{setting}/switch/{int(switch_t)}/{d}", setting, "switch", depths=switch_depths(ts, switch_t, d, n),
                switchT=int(switch_t), shallowDepth=d)
        with open(args.out, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    run_cli(main)
