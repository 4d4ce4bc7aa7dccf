import json
import os

import pytest

from tools.export.pipeline.choose_default import choose, main, within_bounds
from tools.export.core.errors import UserError

from .conftest import ROOT

SETTINGS = {"checkpointStep": 100, "storage": "int8", "sampler": "dpmpp2m", "steps": 20, "guidance": 1.75,
            "minDepth": 5, "batching": "shallow", "uncondEvery": 2, "guidanceMaxT": 800, "perClass": 100,
            "noise": "torch"}


def row(threshold, saved, agreement, fid):
    return {"threshold": threshold, "savedFraction": saved, "agreement": agreement, "fid": fid}


def report(seed, full, *rows, **settings):
    return {"seed": seed, **SETTINGS, **settings, "full": full, "calibration": [full, *rows], "default": full}


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return str(path)


def test_a_drop_of_exactly_the_bound_is_within_it_and_fid_is_bounded_too():
    full = row(0.0, 0.0, 0.959, 20.0)
    assert within_bounds(row(0.1, 0.5, 0.939, 22.0), full)  # −2.0 points, 1.10×
    assert not within_bounds(row(0.1, 0.5, 0.938, 20.0), full)
    assert not within_bounds(row(0.1, 0.5, 0.959, 22.1), full)


def test_a_theta_is_only_as_good_as_its_worst_draw():
    a = {"full": row(0.0, 0.0, 0.96, 28.0), "rows": {0.1: row(0.1, 0.6, 0.95, 21.0), 0.2: row(0.2, 0.7, 0.95, 27.0)}}
    b = {"full": row(0.0, 0.0, 0.97, 23.0), "rows": {0.1: row(0.1, 0.6, 0.96, 18.0), 0.2: row(0.2, 0.7, 0.96, 29.0)}}
    assert choose([a]) == 0.2
    assert choose([a, b]) == 0.1  # θ 0.2 is 1.26× on the second draw
    assert choose([a, b], max_fid_ratio=1.3) == 0.2


def test_the_draws_are_merged_and_the_first_seed_is_written(tmp_path):
    full_a, full_b = row(0.0, 0.0, 0.96, 28.0), row(0.0, 0.0, 0.97, 23.0)
    paths = [
        write(tmp_path, "a.json", report(1234, full_a, row(0.1, 0.6, 0.95, 21.0))),
        write(tmp_path, "a2.json", report(1234, full_a, row(0.2, 0.7, 0.95, 27.0))),  # the same draw, a θ added later
        write(tmp_path, "b.json", report(4321, full_b, row(0.1, 0.6, 0.96, 18.0), row(0.2, 0.7, 0.96, 29.0))),
    ]
    main([*paths, "--out", str(tmp_path / "out.json")])
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["seed"] == 1234
    assert [r["threshold"] for r in out["calibration"]] == [0.0, 0.1, 0.2]
    assert out["default"] == row(0.1, 0.6, 0.95, 21.0)
    assert out["defaultChoice"].startswith("θ 0.1: ") and "θ 0.2 gives" in out["defaultChoice"]


def test_no_default_when_no_theta_meets_the_bounds(tmp_path):
    full = row(0.0, 0.0, 0.96, 20.0)
    path = write(tmp_path, "a.json", report(1, full, row(0.1, 0.6, 0.90, 21.0)))
    main([path, "--out", str(tmp_path / "out.json")])
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["default"] is None and out["defaultChoice"].startswith("no default")
    assert choose([{"full": full, "rows": {0.1: row(0.1, 0.6, 0.90, 21.0)}}]) is None


@pytest.mark.parametrize("second, message", [
    (report(4321, row(0.0, 0.0, 0.97, 23.0), steps=10), "differs from"),
    (report(1234, row(0.0, 0.0, 0.95, 29.0)), "another full-depth row"),
    ({"seed": 1}, "lacks"),
])
def test_reports_that_do_not_describe_one_sampler_on_one_set_of_weights_are_refused(tmp_path, second, message):
    first = write(tmp_path, "a.json", report(1234, row(0.0, 0.0, 0.96, 28.0)))
    with pytest.raises(UserError, match=message):
        main([first, write(tmp_path, "b.json", second), "--out", str(tmp_path / "out.json")])


def test_the_shipped_default_is_the_one_its_two_draws_choose(tmp_path):
    manifest = json.load(open(os.path.join(ROOT, "public/models/fmnist-uvit13/manifest.json")))
    step, guidance = manifest["provenance"]["optimizerSteps"], manifest["defaults"]["guidance"]
    results = os.path.join(ROOT, "docs/results", manifest["id"])
    docs = [os.path.join(results, f"step{step}-g{guidance}-int8-1000-seed{seed}.json") for seed in (1234, 4321)]
    main([*docs, "--out", str(tmp_path / "out.json")])
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["default"]["threshold"] == manifest["defaults"]["threshold"]
    measured = [(r["threshold"], r["agreement"], r["fid"]) for r in out["calibration"]]
    assert measured == [(r["threshold"], r["agreement"], r["fid"]) for r in manifest["calibration"]]


@pytest.mark.parametrize("flags", [["--max-drop", "nan"], ["--max-fid-ratio", "0.9"]])
def test_bounds_that_admit_nothing_or_everything_are_refused(tmp_path, flags):
    from tools.export.pipeline.evaluate import main as evaluate

    path = write(tmp_path, "a.json", report(1, row(0.0, 0.0, 0.96, 20.0)))
    with pytest.raises(UserError, match="--max-drop must lie"):
        main([path, "--out", str(tmp_path / "out.json"), *flags])
    with pytest.raises(UserError, match="--max-drop must lie"):
        evaluate(["--checkpoint", "unused.pt", *flags])
