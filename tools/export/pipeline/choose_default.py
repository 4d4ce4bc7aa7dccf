"""Choose the model's default θ from `tools.export evaluate` reports of the same weights on one or
more draws of seeds, and write the manifest's draw with that choice in it.

    /usr/bin/python3 -m tools.export choose-default eval-seed1234.json eval-seed4321.json \
        --out docs/results/<model>/step<N>-g<G>-int8-<count>-seed1234.json

The default is the θ with the largest saving whose agreement is within --max-drop of full depth and
whose FID is at most --max-fid-ratio × full depth's, on every draw. When no θ keeps them, no default
is chosen: the one there was stays (for a new export, the config's θ), and the report says so;
`adadiff eval` keeps the manifest's θ by the same rule. Bounds are checked on every draw; reports
measured with no judge (a model with no classes) bound the mean PSNR to the full-depth samples
instead (--min-psnr). A θ is only as good as its worst draw: one draw of 1000 samples moves
agreement by a few tenths of a point, and θ 0.14 once cleared the 2-point bound on one draw by 0.2
while θ 0.18 broke the FID bound on the other.

Reports with the same seed are one draw measured in parts (a θ added later): their rows are merged
and their full-depth rows must agree. The first report's draw is the one written out, since the
manifest's calibration table comes from one draw.
"""

import argparse
import json

from ..core.errors import UserError, run_cli

# issue #20's bounds for the default: within 2 points of full depth's agreement, FID ≤ 1.10×
MAX_AGREEMENT_DROP = 0.02
MAX_FID_RATIO = 1.10
# with no judge: the exits must keep samples this close (mean PSNR, dB) to what full depth draws
MIN_PSNR = 30.0

# what must match for two reports to describe the same sampler on the same weights
SETTINGS = ("checkpointStep", "storage", "sampler", "steps", "guidance", "minDepth", "batching", "uncondEvery",
            "guidanceMaxT", "perClass", "noise")


def judged(row):
    return "agreement" in row


def within_bounds(row, full, max_drop=MAX_AGREEMENT_DROP, max_fid_ratio=MAX_FID_RATIO, min_psnr=MIN_PSNR):
    if not judged(row):
        return row["psnr"] >= min_psnr
    # the slack keeps a drop of exactly max_drop inside, whatever the float rounding of 0.959 − 0.939
    return row["agreement"] >= full["agreement"] - max_drop - 1e-9 and row["fid"] <= max_fid_ratio * full["fid"]


def choose(draws, max_drop=MAX_AGREEMENT_DROP, max_fid_ratio=MAX_FID_RATIO, min_psnr=MIN_PSNR):
    """draws: [{"full": row, "rows": {θ: row}}]. Returns the chosen θ, or None when no θ measured
    on every draw meets the bounds on all of them (the default there was then stays)."""
    common = set.intersection(*(set(d["rows"]) for d in draws))
    ok = [t for t in common
          if all(within_bounds(d["rows"][t], d["full"], max_drop, max_fid_ratio, min_psnr) for d in draws)]
    if not ok:
        return None
    return max(ok, key=lambda t: (sum(d["rows"][t]["savedFraction"] for d in draws), -t))


def describe(chosen, draws, max_drop, max_fid_ratio, min_psnr=MIN_PSNR):
    with_judge = judged(draws[0]["full"])

    def at(t):
        parts = []
        for d in draws:
            row, full = d["rows"][t], d["full"]
            parts.append(f"{(row['agreement'] - full['agreement']) * 100:+.1f} points, {row['fid'] / full['fid']:.2f}×"
                         if with_judge else f"{row['psnr']:.1f} dB")
        return " / ".join(parts)

    seeds = " and ".join(str(d["seed"]) for d in draws)
    if with_judge:
        rule = f"agreement within {max_drop * 100:g} points of full depth and FID ≤ {max_fid_ratio:.2f}×"
    else:
        rule = f"a mean PSNR to the full-depth samples ≥ {min_psnr:g} dB"
    rule += f" on seeds {seeds}"
    if chosen is None:
        return f"no default: no θ measured on every draw keeps {rule}; the default there was stays"
    text = f"θ {chosen:g}: the largest saving that keeps {rule} ({at(chosen)})"
    common = set.intersection(*(set(d["rows"]) for d in draws))
    above = sorted(t for t in common if t > chosen)
    if above:
        text += f"; θ {above[0]:g} gives {at(above[0])}"
    return text


def read_report(path, required):
    """An `evaluate --out` report, with the keys `required` checked; export reads its calibration so too."""
    try:
        with open(path) as f:
            report = json.load(f)
    except OSError as e:
        raise UserError(f"cannot read the evaluation report {path}: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise UserError(f"{path} is not JSON ({e.msg} at line {e.lineno}); write it with tools.export evaluate --out") from None
    missing = [k for k in required if k not in report]
    if missing:
        raise UserError(f"{path} is not an evaluate report: it lacks {', '.join(missing)}; "
                        "write it with tools.export evaluate --out")
    return report


def merge_draws(paths, reports):
    """Group reports by seed into draws, checking that they all measured the same thing."""
    first_path, first = paths[0], reports[0]
    draws = {}
    for path, report in zip(paths, reports):
        differ = [k for k in SETTINGS if report[k] != first[k]]
        if differ:
            raise UserError(f"{path} differs from {first_path} in {', '.join(differ)}: "
                            "a default is chosen across draws of one sampler on one set of weights")
        draw = draws.setdefault(report["seed"], {"seed": report["seed"], "full": report["full"], "rows": {}})
        if any(report["full"].get(k) != draw["full"].get(k) for k in ("agreement", "fid", "savedFraction")):
            raise UserError(f"{path} has another full-depth row than an earlier report of seed {report['seed']}: "
                            "the same seed must give the same full-depth samples")
        for row in report["calibration"]:
            # the reference is the draw's "full" (θ 0 may also be an adaptive row: the schedule alone)
            if row != report["full"] and row.get("mode") != "full":
                draw["rows"].setdefault(row["threshold"], row)
    return list(draws.values())


def main(argv=None):
    p = argparse.ArgumentParser(prog="tools.export choose-default", description=__doc__.split("\n\n")[0])
    p.add_argument("reports", nargs="+", help="evaluate --out reports; the first one's seed is the draw written out")
    p.add_argument("--out", required=True, help="where to write the first draw's report with the chosen default")
    p.add_argument("--max-drop", type=float, default=MAX_AGREEMENT_DROP, help="agreement drop allowed (fraction)")
    p.add_argument("--max-fid-ratio", type=float, default=MAX_FID_RATIO, help="FID allowed, as a multiple of full depth's")
    p.add_argument("--min-psnr", type=float, default=MIN_PSNR,
                   help="reports with no judge: the mean PSNR (dB) to the full-depth samples to keep")
    args = p.parse_args(argv)
    if not 0 <= args.max_drop < 1 or not args.max_fid_ratio >= 1:
        raise UserError("--max-drop must lie in [0, 1) and --max-fid-ratio must be ≥ 1")

    reports = [read_report(path, ("seed", "full", "calibration", *SETTINGS)) for path in args.reports]
    draws = merge_draws(args.reports, reports)
    chosen = choose(draws, args.max_drop, args.max_fid_ratio, args.min_psnr)
    written = draws[0]
    out = {k: v for k, v in reports[0].items() if k not in ("calibration", "default", "defaultChoice")}
    out["calibration"] = [written["full"]] + [written["rows"][t] for t in sorted(written["rows"])]
    out["default"] = written["rows"][chosen] if chosen is not None else None
    out["defaultChoice"] = describe(chosen, draws, args.max_drop, args.max_fid_ratio, args.min_psnr)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
    print(out["defaultChoice"])


if __name__ == "__main__":
    run_cli(main)
