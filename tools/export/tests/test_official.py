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


def test_the_official_samplers_evaluate_an_imported_model(tmp_path):
    """Euler–Maruyama (the official eval's) and DPM-Solver-fast (its training loop's), with the exits."""
    checkpoint = str(tmp_path / "imported.pt")
    run("tools.export", "import-official", "--checkpoint", os.path.join(CASE, "nnet_ema.pth"), "--config",
        os.path.join(CASE, "config.json"), "--certainty-threshold", "0.725", "--out", str(tmp_path / "m"),
        "--save-checkpoint", checkpoint)
    for sampler, steps in (("euler-maruyama", "8"), ("dpm-solver-fast", "6")):
        report = str(tmp_path / f"{sampler}.json")
        run("tools.export", "evaluate", "--checkpoint", checkpoint, "--sampler", sampler, "--steps", steps,
            "--per-class", "2", "--thresholds", "0.275", "--threads", "1", "--out", report)
        r = json.load(open(report))
        assert r["sampler"] == sampler and r["judge"].startswith("none")
        full, exits = r["calibration"]
        assert full["savedFraction"] == 0 and len(full["depthByStep"]) == int(steps)
        assert 0 < exits["savedByExits"] < 1 and exits["psnr"] > 0


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


def test_dpm_solver_fast_plans_50_evaluations_and_solves_a_point_mass_exactly():
    """The official training loop's sampler: 17 steps, 16 of third order, 50 evaluations; on data that is
    one point, where the noise estimate is exact, the ODE it solves ends on that point."""
    from tools.export.core.diffusion import dpm_solver_fast_orders, sample_dpm_solver_fast

    assert dpm_solver_fast_orders(50) == [3] * 16 + [2] and sum(dpm_solver_fast_orders(50)) == 50
    assert sum(dpm_solver_fast_orders(51)) == 51 and sum(dpm_solver_fast_orders(49)) == 49
    vp = VPContinuous()
    point = torch.tensor([[0.3, -0.6, 0.9]])

    def exact(model, x, t, y, threshold, min_depth):
        ab = torch.tensor([vp.alpha_bar(float(v)) for v in t])[:, None]
        eps = (x - ab.sqrt() * point) / (1 - ab).sqrt()
        return eps, torch.zeros(len(x), dtype=torch.int64), torch.zeros(len(x), 1)

    noise = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    x_end, trace = sample_dpm_solver_fast(None, vp, noise, nfe=50, denoise=exact)
    assert len(trace) == 50
    # the ODE keeps a point mass's noise estimate constant: at s = 1e-4 (where the official sampler
    # stops) x = α·point + σ·ε_T, ε_T the noise the start held
    a1, ae = vp.alpha_bar(999.0) ** 0.5, vp.alpha_bar(999 * 1e-4) ** 0.5
    want = ae * point + (1 - ae**2) ** 0.5 * (noise - a1 * point) / (1 - a1**2) ** 0.5
    assert torch.allclose(x_end, want, atol=1e-4)


def test_dpm_solver_fast_follows_the_flow_of_gaussian_data():
    """For data N(0, v) the noise estimate is exact in closed form, σ·x/(α²v + σ²), and the ODE only
    scales x: where the solver lands is known, and third order at 50 evaluations gets there."""
    from tools.export.core.diffusion import sample_dpm_solver_fast

    vp, v = VPContinuous(), 4.0

    def exact(model, x, t, y, threshold, min_depth):
        ab = torch.tensor([vp.alpha_bar(float(u)) for u in t], dtype=x.dtype)[:, None]
        return (1 - ab).sqrt() * x / (ab * v + 1 - ab), torch.zeros(len(x), dtype=torch.int64), torch.zeros(len(x), 1)

    noise = torch.randn(3, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    spread = lambda s: vp.alpha_bar(s) * v + 1 - vp.alpha_bar(s)  # noqa: E731
    want = noise * (spread(999 * 1e-4) / spread(999.0)) ** 0.5
    error = {nfe: (sample_dpm_solver_fast(None, vp, noise, nfe=nfe, denoise=exact)[0] - want.clamp(-1, 1)).abs().max()
             for nfe in (12, 50)}
    assert error[50] < 1e-3
    # third order: 3.4× the steps cuts the error by about 3.4³ (measured 47×)
    assert error[12] / error[50] > 25
