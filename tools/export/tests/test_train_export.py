"""Training, resuming, export, and clear errors for bad input — through the real commands."""

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
TINY = os.path.join(ROOT, "tools", "export", "configs", "tiny.json")


def run(*args, check=True):
    p = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True)
    if check and p.returncode != 0:
        raise AssertionError(f"{args} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    return p


def losses(run_dir):
    with open(os.path.join(run_dir, "train.log.jsonl")) as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, idx_dir):
    out = str(tmp_path_factory.mktemp("run"))
    run("tools.export", "train", "--config", TINY, "--data", idx_dir, "--out", out, "--steps", "40", "--threads", "1")
    return out


@pytest.fixture(scope="module")
def judge(tmp_path_factory, idx_dir):
    """A judge for the tiny IDX set, trained briefly: enough to rank samples, and it runs the command."""
    out = str(tmp_path_factory.mktemp("judge"))
    run("tools.export", "classifier", "--data", idx_dir, "--out", out, "--steps", "30", "--threads", "1")
    return os.path.join(out, "classifier.pt")


def test_tiny_config_trains_and_loss_falls(trained):
    log = losses(trained)
    assert [r["step"] for r in log] == list(range(1, 41))
    first = sum(r["loss"] for r in log[:5]) / 5
    last = sum(r["loss"] for r in log[-5:]) / 5
    assert last < first * 0.9, (first, last)
    for r in log:
        assert {"simple", "u", "ual"} <= set(r) and len(r["layer_uncertainty"]) == 3


def test_resume_continues_at_the_saved_step(trained, tmp_path, idx_dir):
    out = str(tmp_path / "run")
    shutil.copytree(trained, out)
    run("tools.export", "train", "--config", TINY, "--data", idx_dir, "--out", out, "--resume", "--steps", "45",
        "--threads", "1")
    steps = [r["step"] for r in losses(out)]
    assert steps[40:] == [41, 42, 43, 44, 45]
    assert torch.load(os.path.join(out, "checkpoint.pt"))["step"] == 45
    # weights-only files (what the repository keeps) resume too
    os.remove(os.path.join(out, "checkpoint.pt"))
    run("tools.export", "train", "--config", TINY, "--data", idx_dir, "--out", out, "--resume", "--steps", "47",
        "--threads", "1")
    assert torch.load(os.path.join(out, "weights.pt"))["step"] == 47


def test_export_parity_on_a_tiny_model(trained, tmp_path):
    model_dir, fixture_dir = str(tmp_path / "model"), str(tmp_path / "fixtures")
    # a calibration at min depth 2 lets the export fuse embed + 2 blocks (never deeper than the min depth)
    calibration = tmp_path / "eval.json"
    calibration.write_text(json.dumps({"calibration": [{"threshold": 0.0, "savedFraction": 0.0}],
                                       "default": {"threshold": 0.45}, "steps": 4, "guidance": 2.0, "minDepth": 2}))
    args = ["tools.export", "export", "--checkpoint", os.path.join(trained, "weights.pt"), "--out", model_dir]
    too_deep = run(*args, "--calibration", str(calibration), "--prefix-depth", "3", check=False)
    assert_clear_error(too_deep, "--prefix-depth must be in 1..2")
    run(*args, "--fixtures", fixture_dir, "--calibration", str(calibration))
    manifest = json.load(open(os.path.join(model_dir, "manifest.json")))
    assert len(manifest["segments"]["blocks"]) == 3
    assert [b["skipFrom"] for b in manifest["segments"]["blocks"]] == [None, None, 0]
    prefix = manifest["segments"]["prefix"]
    assert prefix["depth"] == 2
    # block 2 takes block 0's output as its skip, so the fused prefix must hand it out
    assert [o["name"] for o in prefix["outputs"]] == ["hidden", "temb", "uncertainty", "hidden_00"]
    assert manifest["provenance"]["optimizerSteps"] == 40
    import onnx

    for b in manifest["segments"]["blocks"]:
        graph = onnx.load(os.path.join(model_dir, b["path"]))
        assert graph.opset_import[0].version == 17
        assert any(n.op_type == "LayerNormalization" for n in graph.graph.node)
    # only the batch varies, and as -1: a graph that reads its tensors' shapes carries chains that
    # every session optimises at load (docs/page.md, "Graphs with constant shapes"); one that fixed
    # the batch would run at the batch it was traced with only
    from onnx import numpy_helper

    for name in sorted(os.listdir(model_dir)):
        if not name.endswith(".onnx"):
            continue
        graph = onnx.load(os.path.join(model_dir, name)).graph
        assert "Shape" not in {n.op_type for n in graph.node}, name
        wanted = {n.input[1] for n in graph.node if n.op_type == "Reshape"}
        targets = {i.name: numpy_helper.to_array(i) for i in graph.initializer if i.name in wanted}
        for n in graph.node:
            if n.op_type == "Constant" and n.output[0] in wanted:
                value = next(a for a in n.attribute if a.name == "value")
                targets[n.output[0]] = numpy_helper.to_array(value.t)
        assert wanted and all(t in targets and targets[t][0] == -1 for t in wanted), name
    node = shutil.which("node")
    if node is None:
        pytest.skip("node not installed")
    # the writer's manifest is read by the runtime's own schema: one format version, one meaning
    tsx = os.path.join(ROOT, "node_modules", ".bin", "tsx")
    read = subprocess.run(
        [tsx, "-e", "import { readFileSync } from 'node:fs'; import { parseManifest } from './src/runtime/manifest.ts';"
                    f"const m = parseManifest(JSON.parse(readFileSync({json.dumps(model_dir + '/manifest.json')}, 'utf8')));"
                    "console.log(JSON.stringify({ v: m.formatVersion, d: m.defaults }));"],
        cwd=ROOT, capture_output=True, text=True)
    assert read.returncode == 0, read.stderr
    from tools.export.core.manifest import FORMAT_VERSION

    assert json.loads(read.stdout) == {"v": FORMAT_VERSION, "d": manifest["defaults"]}
    p = subprocess.run([node, "test/parity/check.mjs", model_dir, fixture_dir], cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    # 13 for embed, 3 blocks (tokens, uncertainty, exit), chained and monolithic; 5 for the prefix
    assert p.stdout.startswith("18 comparisons"), p.stdout


def assert_clear_error(p, pattern):
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr
    assert pattern in p.stderr, p.stderr


def test_missing_data_directory(tmp_path):
    p = run("tools.export", "train", "--config", TINY, "--out", str(tmp_path), "--data", "/nonexistent", check=False)
    assert_clear_error(p, "--data /nonexistent: no such folder, and not a preset (fashion-mnist, emoji)")


def test_no_data_given(tmp_path):
    p = run("tools.export", "train", "--config", TINY, "--out", str(tmp_path), check=False)
    assert_clear_error(p, "no data given: pass --data")


def test_truncated_checkpoint(tmp_path):
    bad = tmp_path / "weights.pt"
    bad.write_bytes(b"PK\x03\x04 truncated")
    p = run("tools.export", "export", "--checkpoint", str(bad), "--out", str(tmp_path / "m"), check=False)
    assert_clear_error(p, "is truncated or not a PyTorch checkpoint")


def test_unknown_config_key(tmp_path):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"model": {"embed_dim": 32, "dpeth": 4}}))
    p = run("tools.export", "train", "--config", str(cfg), "--out", str(tmp_path), check=False)
    assert_clear_error(p, "unknown config key 'model.dpeth'")


def test_a_compact_resume_point_keeps_the_ema_and_resumes_from_it(trained, tmp_path, idx_dir):
    src, dst = os.path.join(trained, "weights.pt"), str(tmp_path / "compact.pt")
    run("tools.export", "checkpoint", "compact", src, dst)
    full, small = torch.load(src), torch.load(dst)
    assert "model" not in small and small["step"] == full["step"]
    assert all(torch.equal(small["ema"][k], full["ema"][k]) for k in full["ema"])
    assert os.path.getsize(dst) < 0.6 * os.path.getsize(src)
    out = str(tmp_path / "resumed")
    run("tools.export", "train", "--config", TINY, "--data", idx_dir, "--out", out, "--resume", dst,
        "--steps", str(full["step"] + 2), "--threads", "1")
    assert torch.load(os.path.join(out, "weights.pt"))["step"] == full["step"] + 2


def test_the_same_seed_trains_the_same_weights(tmp_path, idx_dir):
    def weights(name):
        out = str(tmp_path / name)
        run("tools.export", "train", "--config", TINY, "--data", idx_dir, "--out", out, "--steps", "3", "--threads", "1")
        return torch.load(os.path.join(out, "weights.pt"))["model"]

    a, b = weights("a"), weights("b")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])][:5]


def test_unknown_uem_target(tmp_path):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"train": {"uem_target": "truth"}}))
    p = run("tools.export", "train", "--config", str(cfg), "--out", str(tmp_path), check=False)
    assert_clear_error(p, "train.uem_target must be 'noise'")


def test_uem_only_stage_trains_only_the_uems(trained, tmp_path, idx_dir):
    out = str(tmp_path / "stage2")
    run("tools.export", "train", "--config", TINY, "--data", idx_dir, "--out", out, "--init-from",
        os.path.join(trained, "weights.pt"), "--uem-only", "--steps", "3", "--threads", "1")
    before = torch.load(os.path.join(trained, "weights.pt"))["ema"]  # --init-from starts from the EMA weights
    after = torch.load(os.path.join(out, "weights.pt"))["model"]
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("uems.") for k in changed), sorted(changed)[:5]


def test_evaluate_sweeps_guidance_and_export_takes_its_settings(trained, judge, tmp_path):
    weights, report_path = os.path.join(trained, "weights.pt"), str(tmp_path / "eval.json")
    # bounds any θ meets: this test is the plumbing. On 10 samples of a tiny model the real ones (2 points,
    # FID ≤ 1.10×) hang on noise; before training seeded its initial weights, a run left no default.
    # test_choose_default.py tests the bounds
    run("tools.export", "evaluate", "--checkpoint", weights, "--judge", judge, "--per-class", "1", "--guidance", "1,2",
        "--thresholds", "0.3,0.6", "--min-depth", "2", "--uncond-every", "2", "--guidance-max-t", "74", "--batching", "all",
        "--threads", "1", "--max-drop", "0.99", "--max-fid-ratio", "1000",
        "--out", report_path)
    report = json.load(open(report_path))
    sweep = report["guidanceSweep"]
    assert [r["guidance"] for r in sweep] == [1.0, 2.0]
    best = min(sweep, key=lambda r: r["fid"])
    assert report["guidance"] == best["guidance"] and report["full"]["fid"] == best["fid"]
    assert report["minDepth"] == 2 and report["uncondEvery"] == 2 and report["guidanceMaxT"] == 74
    assert [r["threshold"] for r in report["calibration"]] == [0.0, 0.3, 0.6]
    for row in report["calibration"]:  # no pass exits before block 2
        assert min(row["depthByStep"]) >= 2, row
    assert report["default"] in report["calibration"] and report["default"].get("mode") != "full"

    model_dir, fixture_dir = str(tmp_path / "model"), str(tmp_path / "fixtures")
    run("tools.export", "export", "--checkpoint", weights, "--out", model_dir, "--fixtures", fixture_dir,
        "--calibration", report_path)
    manifest = json.load(open(os.path.join(model_dir, "manifest.json")))
    assert report["batching"] == "all"  # the guidance passes exit together
    assert manifest["defaults"] == {"threshold": report["default"]["threshold"], "steps": 4,
                                    "guidance": report["guidance"], "sampler": "ddim", "minDepth": 2,
                                    "batching": "all", "unconditionalEvery": 2, "guidanceMaxT": 74}
    assert manifest["segments"]["prefix"]["depth"] == 2  # the min depth, fused
    meta = json.load(open(os.path.join(fixture_dir, "fixtures.json")))["sampling"]
    assert (meta["guidance"], meta["minDepth"], meta["batching"]) == (report["guidance"], 2, "all")
    for rec in meta["runs"]["adaptive"]["trace"]:
        assert min(rec["exit_cond"]) >= 1
        if "exit_uncond" in rec:
            assert rec["exit_uncond"] == rec["exit_cond"]
    # the full-depth reference runs both passes at every step; the adaptive run as the manifest says
    assert meta["runs"]["full"]["uncondEvery"] == 1 and meta["runs"]["adaptive"]["uncondEvery"] == 2
    assert meta["runs"]["full"]["guidanceMaxT"] is None and meta["runs"]["adaptive"]["guidanceMaxT"] == 74
    if report["guidance"] != 1:
        # t = 99, 74, 49, 24: the first step unguided, the unconditional pass on guided steps 1 and 3
        adaptive = meta["runs"]["adaptive"]["trace"]
        assert [bool(rec.get("unguided")) for rec in adaptive] == [True, False, False, False]
        assert [bool(rec.get("uncond_reused")) for rec in adaptive] == [False, False, True, False]
        full = meta["runs"]["full"]["trace"]
        assert not any(rec.get("uncond_reused") or rec.get("unguided") for rec in full)


def test_bad_calibration_report(tmp_path):
    bad = tmp_path / "eval.json"
    bad.write_text("{ not json")
    p = run("tools.export", "export", "--checkpoint", "tools/export/checkpoints/fmnist-uvit13/shipped.pt",
            "--out", str(tmp_path / "m"), "--calibration", str(bad), check=False)
    assert_clear_error(p, "is not JSON")


def test_learning_rate_warms_up_holds_and_cools_down():
    from tools.export.core.config import from_dict
    from tools.export.pipeline.train import learning_rate

    tcfg = from_dict({"train": {"lr": 1e-3, "warmup_steps": 10, "decay_start": 100, "decay_steps": 50,
                                "min_lr_ratio": 0.1}})["train"]
    assert learning_rate(0, tcfg) == pytest.approx(1e-4)
    assert learning_rate(50, tcfg) == pytest.approx(1e-3)
    assert learning_rate(125, tcfg) == pytest.approx(1e-3 * 0.55)
    assert learning_rate(150, tcfg) == pytest.approx(1e-4)
    assert learning_rate(10_000, tcfg) == pytest.approx(1e-4)
    # a resumed run without optimiser state warms up again from where it resumed
    assert learning_rate(120, tcfg, warmup_from=120) == pytest.approx(1e-3 * 0.1 * (1 - 0.4 * 0.9))
    # no decay configured: constant after warm-up
    assert learning_rate(10_000, from_dict({})["train"]) == pytest.approx(1e-3)


def test_two_data_parallel_ranks_end_with_the_same_weights(tmp_path, idx_dir):
    """DistributedDataParallel on 2 gloo ranks, started by hand as torchrun would (Debian's torchrun
    for torch 1.13 on Python 3.11 crashes in its own launcher): both ranks train a few steps on their
    own shards and must end with rank 0's weights and EMA, to the bit."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs = []
    for rank in (0, 1):
        env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE="2", RANK=str(rank),
                   LOCAL_RANK=str(rank))
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "tools.export", "train", "--config", TINY, "--data", idx_dir,
             "--out", str(tmp_path / f"rank{rank}"),
             "--steps", "6", "--threads", "1", "--device", "cpu"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    try:
        outs = [p.communicate(timeout=300) for p in procs]
    finally:
        for p in procs:  # a rank that hangs must not outlive the test, spinning on a core
            p.kill()
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    reports = [json.loads(line) for _, err in outs for line in err.splitlines() if line.startswith('{"rank"')]
    assert sorted(r["rank"] for r in reports) == [0, 1]
    assert all(r["worldSize"] == 2 and r["maxAbsDiffFromRank0"] == 0.0 for r in reports), reports
    # rank 0 alone writes the weights, after 6 steps
    assert os.path.exists(tmp_path / "rank0" / "weights.pt") and not os.path.exists(tmp_path / "rank1" / "weights.pt")
    assert len(losses(str(tmp_path / "rank0"))) == 6


def test_int8_storage_keeps_parity_and_shrinks_the_files(trained, tmp_path):
    import onnx

    fp32_dir, model_dir, fixture_dir = str(tmp_path / "fp32"), str(tmp_path / "int8"), str(tmp_path / "fixtures")
    weights = os.path.join(trained, "weights.pt")
    run("tools.export", "export", "--checkpoint", weights, "--out", fp32_dir)
    run("tools.export", "export", "--checkpoint", weights, "--out", model_dir, "--storage", "int8",
        "--fixtures", fixture_dir)
    manifest = json.load(open(os.path.join(model_dir, "manifest.json")))
    assert manifest["storage"] == "int8"
    files = lambda m: [m["segments"]["embed"], *m["segments"]["blocks"], m["segments"]["head"]]  # noqa: E731
    fp32 = json.load(open(os.path.join(fp32_dir, "manifest.json")))
    assert sum(f["bytes"] for f in files(manifest)) < 0.5 * sum(f["bytes"] for f in files(fp32))
    for b in manifest["segments"]["blocks"]:
        graph = onnx.load(os.path.join(model_dir, b["path"])).graph
        assert sum(n.op_type == "DequantizeLinear" for n in graph.node) >= 4  # qkv, proj, fc1, fc2
        assert any(i.data_type == onnx.TensorProto.INT8 for i in graph.initializer)
    # the fixtures come from the same rounded weights: onnxruntime-web agrees with PyTorch as for fp32
    node = shutil.which("node")
    if node is None:
        pytest.skip("node not installed")
    p = subprocess.run([node, "test/parity/check.mjs", model_dir, fixture_dir], cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    # a calibration measured on fp32 weights does not describe the int8 ones
    report = tmp_path / "eval.json"
    report.write_text(json.dumps({"calibration": [], "default": {"threshold": 0.1}, "steps": 4, "guidance": 2.0}))
    mismatch = run("tools.export", "export", "--checkpoint", weights, "--out", str(tmp_path / "x"), "--storage", "int8",
                   "--calibration", str(report), check=False)
    assert_clear_error(mismatch, "was measured on fp32 weights, not int8")


def test_frontier_does_not_resume_rows_of_other_weights(tmp_path):
    """Rows are reused by key on resume: rows from other weights would pass for this checkpoint's."""
    out = tmp_path / "frontier.json"
    defaults = json.load(open(os.path.join(ROOT, "public/models/fmnist-uvit13/manifest.json")))["defaults"]
    out.write_text(json.dumps({"checkpointStep": 9721, "perClass": 30, "steps": defaults["steps"],
                               "sampler": defaults["sampler"], "guidance": defaults["guidance"],
                               "minDepth": defaults["minDepth"], "seed": 1234, "rows": []}))
    p = run("tools.export", "frontier", "--checkpoint", "tools/export/checkpoints/fmnist-uvit13/shipped.pt",
            "--per-class", "30", "--out", str(out), check=False)
    assert_clear_error(p, "was made with other checkpointStep (checkpointStep 9721)")


def test_frontier_runs_one_curve_for_a_model_without_a_guidance_schedule(tmp_path, trained, judge):
    """With no guidance schedule in the defaults, 'schedule' and 'none' would sample the same rows twice."""
    model_dir, out = str(tmp_path / "model"), tmp_path / "frontier.json"
    run("tools.export", "export", "--checkpoint", os.path.join(trained, "weights.pt"), "--out", model_dir)
    run("tools.export", "frontier", "--checkpoint", os.path.join(trained, "weights.pt"), "--judge", judge,
        "--manifest", os.path.join(model_dir, "manifest.json"), "--per-class", "1", "--thresholds-none", "0.2",
        "--static-depths", "2", "--switch-ts", "", "--out", str(out))
    r = json.loads(out.read_text())
    assert list(r["settings"]) == ["none"] and r["classes"] == 10
    keys = [row["key"] for row in r["rows"]]
    assert len(keys) == len(set(keys)) and all(k == "full" or k.startswith("none/") for k in keys)
    assert {"none/adaptive/0.2", "none/static/2"} <= set(keys)


def test_evaluate_and_export_take_their_sampling_defaults_from_the_config(tmp_path, idx_dir, judge):
    """One source of defaults on the Python side: the config's sampling block, which export writes
    into the manifest and evaluate calibrates under, unless a flag says otherwise."""
    cfg = json.load(open(TINY))
    cfg["sampling"].update(sampler="dpmpp2m", min_depth=2, batching="shallow", uncond_every=2, guidance_max_t=74)
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(cfg))
    out = str(tmp_path / "run")
    run("tools.export", "train", "--config", str(path), "--data", idx_dir, "--out", out, "--steps", "2", "--threads", "1")
    weights, report = os.path.join(out, "weights.pt"), str(tmp_path / "eval.json")
    run("tools.export", "evaluate", "--checkpoint", weights, "--judge", judge, "--per-class", "1", "--full-only",
        "--threads", "1", "--out", report)
    r = json.load(open(report))
    assert (r["sampler"], r["minDepth"], r["batching"], r["uncondEvery"], r["guidanceMaxT"]) == (
        "dpmpp2m", 2, "shallow", 2, 74)
    model_dir = str(tmp_path / "model")
    run("tools.export", "export", "--checkpoint", weights, "--out", model_dir)
    defaults = json.load(open(os.path.join(model_dir, "manifest.json")))["defaults"]
    assert defaults == {"threshold": 0.1, "steps": 4, "guidance": 2.0, "sampler": "dpmpp2m",
                        "minDepth": 2, "batching": "shallow", "unconditionalEvery": 2, "guidanceMaxT": 74}
