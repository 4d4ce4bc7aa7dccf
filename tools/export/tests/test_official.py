"""The official AdaDiff checkpoints: a tiny one made with the official code (test/fixtures/official/tiny,
by tools/export/official/make_parity_case.py) loads under its own parameter names, gives the official
forward's outputs, and exits where the official rule does; after import, so does the runtime."""

import json
import os
import subprocess

import numpy as np
import pytest
import torch

from tools.export.core.diffusion import VPContinuous, first_confident
from tools.export.core.uvit import build

from .conftest import ROOT
from .test_train_export import assert_clear_error, run

CASE = os.path.join(ROOT, "test", "fixtures", "official", "tiny")


def fixtures():
    meta = json.load(open(os.path.join(CASE, "fixtures.json")))
    blob = open(os.path.join(CASE, "fixtures.bin"), "rb").read()

    def tensor(name):
        e = meta["tensors"][name]
        dtype = np.int64 if e["dtype"] == "int64" else np.float32
        return torch.from_numpy(np.frombuffer(blob, dtype=dtype, count=e["bytes"] // np.dtype(dtype).itemsize,
                                              offset=e["offset"]).reshape(e["dims"]).copy())

    return meta, tensor


@pytest.fixture(scope="module")
def official_model():
    from tools.export.pipeline.import_official import model_config, read_config

    model = build(model_config(read_config(os.path.join(CASE, "config.json"))["uvit"]))
    model.load_state_dict(torch.load(os.path.join(CASE, "nnet_ema.pth")))  # strict: every official name fits
    return model.eval()


def test_the_official_weights_give_the_official_outputs_exits_and_certainties(official_model):
    meta, tensor = fixtures()
    x, timesteps, thresholds = tensor("inputs.x"), tensor("inputs.timesteps"), tensor("thresholds")
    certainty, exits, exit_out, full_out = (tensor(n) for n in ("certainty.mean", "exit.block", "exit.out", "full.out"))
    model = official_model
    assert (model.exit_head, model.exit_rule, model.num_in) == ("lte", "official", 3)
    with torch.no_grad():
        for b in range(x.shape[0]):
            for k in range(timesteps.shape[0]):
                eps_all, unc_all = model.forward_exits(x[b : b + 1], timesteps[k : k + 1])
                unc = torch.stack([u.mean() for u in unc_all])[None]
                assert torch.allclose(1 - unc[0], certainty[b, k], atol=1e-6)
                assert torch.allclose(eps_all[-1][0], full_out[b, k], atol=1e-5)
                for j, theta_c in enumerate(thresholds.tolist()):
                    # the manifest's θ reads uncertainty: 1 − the official certainty threshold
                    e = int(first_confident(unc, 1 - theta_c, rule="official", num_in=model.num_in)[0])
                    assert e == int(exits[b, k, j]), (b, k, theta_c)
                    assert torch.allclose(eps_all[e][0], exit_out[b, k, j], atol=1e-5)
    # the case holds what it is meant to: images that exit apart, and an exit the patience decides
    assert meta["exits"]["t=0.02"]["threshold=0.725"] == [6, 2, 5]


def test_the_continuous_schedule_is_the_official_vp_sde():
    s = VPContinuous()
    t = 0.5
    assert s.alpha_bar(999 * t) == pytest.approx(np.exp(-0.1 * t - 9.95 * t * t), rel=1e-12)
    assert s.timesteps(4) == pytest.approx([999.0, 666.333, 333.666, 0.999])
    assert s.alpha_bar(-1) == 1.0


def test_import_writes_a_model_the_runtime_runs_as_the_official_forward(tmp_path):
    model_dir, fixture_dir = str(tmp_path / "official-tiny"), str(tmp_path / "fixtures")
    p = run("tools.export", "import-official", "--checkpoint", os.path.join(CASE, "nnet_ema.pth"), "--config",
            os.path.join(CASE, "config.json"), "--certainty-threshold", "0.725", "--out", model_dir,
            "--fixtures", fixture_dir)
    assert "exit rule official" in p.stdout
    m = json.load(open(os.path.join(model_dir, "manifest.json")))
    assert m["exit"] == {"head": "lte", "rule": "official", "officialCertainty": 0.725}
    assert m["schedule"]["type"] == "vp-continuous" and m["schedule"]["timeScale"] == 999
    assert m["defaults"]["threshold"] == pytest.approx(0.275) and m["classes"] == []
    tsx = os.path.join(ROOT, "node_modules", ".bin", "tsx")
    check = subprocess.run([tsx, "test/parity/official.ts", model_dir, CASE], cwd=ROOT, capture_output=True,
                           text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "27 exits equal" in check.stdout, check.stdout
    # whole sampling runs in continuous time (DPM-Solver++ on the VP-SDE, the official exit rule) agree too
    sampling = subprocess.run([tsx, "test/parity/sampling.ts", model_dir, fixture_dir], cwd=ROOT,
                              capture_output=True, text=True)
    assert sampling.returncode == 0, sampling.stdout + sampling.stderr
    assert sampling.stdout.count("exits equal") == 2, sampling.stdout


def test_a_checkpoint_that_does_not_fit_the_config_names_what_differs(tmp_path):
    state = torch.load(os.path.join(CASE, "nnet_ema.pth"))
    del state["norm.weight"]
    state["decoder_pred.weight"] = torch.zeros(5, 32)
    state["extra.thing"] = torch.zeros(1)
    bad = tmp_path / "nnet_ema.pth"
    torch.save(state, bad)
    p = run("tools.export", "import-official", "--checkpoint", str(bad), "--config", os.path.join(CASE, "config.json"),
            "--certainty-threshold", "0.9", "--out", str(tmp_path / "m"), check=False)
    assert_clear_error(p, "1 missing: norm.weight; 1 unexpected: extra.thing; 1 of another shape: decoder_pred.weight")
    p = run("tools.export", "import-official", "--checkpoint", os.path.join(CASE, "nnet_ema.pth"), "--config",
            "cifar10", "--out", str(tmp_path / "m"), check=False)
    assert_clear_error(p, "does not fit the config")


def test_euler_maruyama_steps_the_reverse_sde_as_the_runtime_does():
    """The same step as src/runtime/samplers.ts's eulerMaruyama (test/unit/samplers.test.ts has its twin)."""
    from tools.export.core.diffusion import NoiseSchedule, euler_maruyama_step

    vp = VPContinuous()
    x, eps, z = torch.tensor([0.5, -1.0]), torch.tensor([0.2, 0.1]), torch.tensor([1.0, -1.0])
    out, _ = euler_maruyama_step(x, eps, vp, 999 * 0.5, 999 * 0.25, z)
    beta, ab, ds = 0.1 + 19.9 * 0.5, np.exp(-0.05 - 9.95 * 0.25), -0.25
    want = x + (-0.5 * beta * x + beta * eps / (1 - ab) ** 0.5) * ds + (beta * 0.25) ** 0.5 * z
    assert torch.allclose(out, want.float(), atol=1e-5)
    last, _ = euler_maruyama_step(x, eps, vp, 0.999, -1, z)  # to the clean image: no noise
    b0, ab0 = vp.beta(0.999), vp.alpha_bar(0.999)
    assert torch.allclose(last, x + (-0.5 * b0 * x + b0 * eps / (1 - ab0) ** 0.5) * -0.001, atol=1e-5)
    with pytest.raises(ValueError, match="continuous"):
        euler_maruyama_step(x, eps, NoiseSchedule(), 999, 949, z)
