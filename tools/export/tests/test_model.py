"""The network: shapes, skip wiring, exits, and upstream parameter names."""

import json

import pytest
import torch

from tools.export.core.config import from_dict
from tools.export.core.uvit import build, unpatchify

TINY = from_dict({"model": {"img_size": 28, "patch_size": 7, "in_chans": 1, "embed_dim": 32, "depth": 4, "num_heads": 2,
                            "num_classes": 10}})["model"]


def tiny():
    torch.manual_seed(0)
    return build(TINY).eval()


def inputs(batch=3):
    return torch.randn(batch, 1, 28, 28), torch.tensor([5.0, 500.0, 999.0])[:batch], torch.tensor([0, 9, 10])[:batch]


def test_shapes():
    m = tiny()
    x, t, y = inputs()
    h, temb = m.embed(x, t, y)
    assert h.shape == (3, 2 + 16, 32) and temb.shape == (3, 32)
    eps, unc = m.forward_exits(x, t, y)
    assert len(eps) == len(unc) == m.num_blocks == 5
    for e, u in zip(eps, unc):
        assert e.shape == x.shape and u.shape == x.shape
        assert (u > 0).all() and (u < 1).all()
    assert m(x, t, y).shape == x.shape


def test_another_image_size_or_token_count_is_refused_not_folded_into_the_batch():
    m = tiny()
    _, t, y = inputs()
    # 32 would be cropped to the same 4×4 patches by the conv, 56 fold into a batch of 12
    for size in (32, 56):
        with pytest.raises(ValueError, match=r"embed takes images \[B, 1, 28, 28\]"):
            m.embed(torch.randn(3, 1, size, size), t, y)
    with pytest.raises(ValueError, match=r"unpatchify takes tokens \[B, 16, 49\]"):
        unpatchify(torch.randn(3, 64, 49), 1, 4, 7)


def test_skip_wiring_pairs_in_and_out_blocks_like_upstream():
    m = tiny()
    # 2 in-blocks (0, 1), mid 2, out-blocks 3, 4: out-block 3 takes in-block 1, 4 takes 0
    assert [m.skip_source(i) for i in range(m.num_blocks)] == [None, None, None, 1, 0]


def test_full_depth_equals_last_exit():
    m = tiny()
    x, t, y = inputs()
    eps, _ = m.forward_exits(x, t, y)
    torch.testing.assert_close(m(x, t, y), eps[-1])


def test_exit_at_block_i_is_the_head_on_block_i_tokens():
    m = tiny()
    x, t, y = inputs()
    eps, _ = m.forward_exits(x, t, y)
    h, _ = m.embed(x, t, y)
    outs = []
    for i in range(m.num_blocks):
        src = m.skip_source(i)
        h = m.run_block(i, h, None if src is None else outs[src])
        outs.append(h)
        torch.testing.assert_close(m.head(h), eps[i])


def test_upstream_parameter_names():
    names = set(tiny().state_dict())
    for expected in [
        "patch_embed.proj.weight",
        "label_emb.weight",
        "pos_embed",
        "in_blocks.0.norm1.weight",
        "in_blocks.0.attn.qkv.weight",
        "in_blocks.0.attn.proj.weight",
        "in_blocks.0.mlp.fc1.weight",
        "mid_block.mlp.fc2.weight",
        "out_blocks.1.skip_linear.weight",
        "norm.weight",
        "decoder_pred.weight",
        "final_layer.weight",
    ]:
        assert expected in names, expected
    assert "in_blocks.0.attn.qkv.bias" not in names  # upstream: no qkv bias
    assert all(n.startswith("uems.") for n in names if "uem" in n)


def test_uem_is_timestep_aware():
    m = tiny()
    with torch.no_grad():
        m.uems[0].time_proj.weight.normal_()
    x, _, y = inputs(2)
    t1, t2 = torch.tensor([10.0, 10.0]), torch.tensor([900.0, 900.0])
    _, u1 = m.forward_exits(x, t1, y[:2])
    h, temb2 = m.embed(x, t2, y[:2])
    h1, temb1 = m.embed(x, t1, y[:2])
    a = m.uncertainty_map(0, m.run_block(0, h1), temb1)
    b = m.uncertainty_map(0, m.run_block(0, h1), temb2)  # same tokens, other timestep
    assert not torch.allclose(a, b)
    torch.testing.assert_close(a, u1[0])


def test_first_confident_respects_min_depth_and_falls_back_to_the_last_block():
    from tools.export.core.diffusion import first_confident

    unc = torch.tensor([[0.5, 0.1, 0.3, 0.05, 0.9], [0.9, 0.9, 0.9, 0.9, 0.9]])
    assert first_confident(unc, 0.2).tolist() == [1, 4]
    assert first_confident(unc, 0.2, min_depth=3).tolist() == [3, 4]


def test_batched_guidance_passes_exit_together_where_both_are_confident():
    from tools.export.core.diffusion import NoiseSchedule, sample

    torch.manual_seed(0)
    model = tiny().eval()
    schedule = NoiseSchedule(num_timesteps=100)
    y = torch.tensor([1, 2, 3])
    noise = torch.randn(3, 1, 28, 28)
    # a θ at which the separate passes disagree somewhere, so exiting together is a real constraint
    _, probe = sample(model, schedule, y, noise, steps=4, guidance=2.0, threshold=1.0)
    values = sorted({u for rec in probe for key in ("unc_cond", "unc_uncond") for row in rec[key] for u in row})
    theta = next(
        v for v in values
        if any(r["exit_cond"] != r["exit_uncond"] for r in sample(model, schedule, y, noise, 4, 2.0, v)[1])
    )
    _, joint = sample(model, schedule, y, noise, steps=4, guidance=2.0, threshold=theta, batching="all")
    for rec in joint:
        assert rec["exit_cond"] == rec["exit_uncond"]
        for c, u, e in zip(rec["unc_cond"], rec["unc_uncond"], rec["exit_cond"]):
            both = [a <= theta and b <= theta for a, b in zip(c, u)]
            assert e == (both.index(True) if True in both[:-1] else len(both) - 1)


def test_weighted_guidance_passes_exit_apart_the_unconditional_at_its_share_of_the_error():
    from tools.export.core.diffusion import NoiseSchedule, sample, unconditional_threshold

    assert unconditional_threshold(0.1, 1.25) == pytest.approx(0.5)  # g / |1 − g| = 5
    assert unconditional_threshold(0.1, 3.0) == pytest.approx(0.15)
    assert unconditional_threshold(0.1, 1.0) == 0.1
    torch.manual_seed(0)
    model = tiny().eval()
    schedule = NoiseSchedule(num_timesteps=100)
    y, noise = torch.tensor([1, 2, 3]), torch.randn(3, 1, 28, 28)
    _, probe = sample(model, schedule, y, noise, steps=4, guidance=2.0, threshold=1.0)
    values = sorted({u for rec in probe for row in rec["unc_cond"] for u in row})
    theta = values[len(values) // 2]
    _, trace = sample(model, schedule, y, noise, steps=4, guidance=2.0, threshold=theta, batching="weighted")
    first = lambda row, bound: next((i for i, u in enumerate(row[:-1]) if u <= bound), len(row) - 1)  # noqa: E731
    for rec in trace:
        for c, e in zip(rec["unc_cond"], rec["exit_cond"]):
            assert e == first(c, theta)
        for u, e in zip(rec["unc_uncond"], rec["exit_uncond"]):
            assert e == first(u, 2.0 * theta)  # g / |1 − g| = 2 at g = 2
    # from the same first input, the unconditional pass stops no later than under separate batching
    _, separate = sample(model, schedule, y, noise, steps=4, guidance=2.0, threshold=theta)
    assert separate[0]["exit_cond"] == trace[0]["exit_cond"]
    assert all(w <= s for w, s in zip(trace[0]["exit_uncond"], separate[0]["exit_uncond"]))


def test_reused_unconditional_pass_runs_every_nth_step_and_holds_its_estimate_between():
    from tools.export.core.diffusion import NoiseSchedule, ddim_step, ddim_timesteps, sample

    torch.manual_seed(0)
    model = tiny().eval()
    schedule = NoiseSchedule(num_timesteps=100)
    y, noise = torch.tensor([1, 2, 3]), torch.randn(3, 1, 28, 28)
    every_step, _ = sample(model, schedule, y, noise, steps=5, guidance=2.0)
    assert torch.equal(sample(model, schedule, y, noise, steps=5, guidance=2.0, uncond_every=1)[0], every_step)
    image, trace = sample(model, schedule, y, noise, steps=5, guidance=2.0, uncond_every=2)
    assert [bool(rec.get("uncond_reused")) for rec in trace] == [False, True, False, True, False]
    assert ["exit_uncond" in rec for rec in trace] == [True, False, True, False, True]
    assert not torch.allclose(image, every_step)
    # the same run by hand: the unconditional estimate is computed on steps 0, 2, 4 and held
    ts, null, x = ddim_timesteps(100, 5), torch.full_like(y, 10), noise
    with torch.no_grad():
        for k, t in enumerate(ts):
            tt = torch.full((3,), float(t))
            if k % 2 == 0:
                eps_u = model(x, tt, null)
            eps = eps_u + 2.0 * (model(x, tt, y) - eps_u)
            ab_prev = float(schedule.alphas_cumprod[ts[k + 1]]) if k + 1 < len(ts) else 1.0
            x, _ = ddim_step(x, eps, float(schedule.alphas_cumprod[t]), ab_prev)
    assert torch.allclose(image, x.clamp(-1, 1), atol=1e-6)
    with pytest.raises(ValueError, match="uncond_every"):
        sample(model, schedule, y, noise, steps=5, guidance=2.0, uncond_every=0)


def test_guidance_interval_skips_the_noisiest_steps_and_shallow_stops_the_unconditional_pass_at_min_depth():
    from tools.export.core.diffusion import NoiseSchedule, adaptive_eps, ddim_step, ddim_timesteps, exits_of, sample

    model = tiny()
    schedule = NoiseSchedule(num_timesteps=100)
    y, noise = torch.tensor([1, 2, 3]), torch.randn(3, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    ts = ddim_timesteps(100, 5)  # 99, 79, 59, 39, 19
    _, probe = sample(model, schedule, y, noise, steps=5, guidance=2.0, threshold=1.0)
    values = sorted({u for rec in probe for row in rec["unc_cond"] for u in row})
    theta = values[len(values) // 2]
    image, trace = sample(model, schedule, y, noise, steps=5, guidance=2.0, threshold=theta, min_depth=2,
                          batching="shallow", uncond_every=2, guidance_max_t=ts[2])
    assert [bool(rec.get("unguided")) for rec in trace] == [True, True, False, False, False]
    assert [bool(rec.get("uncond_reused")) for rec in trace] == [False, False, False, True, False]
    assert [k for k, rec in enumerate(trace) if "exit_uncond" in rec] == [2, 4]
    assert all(e == 1 for k in (2, 4) for e in trace[k]["exit_uncond"])  # block 2, 0-based 1: min_depth
    assert len({e for rec in trace for e in rec["exit_cond"]}) > 1  # the conditional pass still exits at θ
    # the same run by hand
    null, x = torch.full_like(y, 10), noise
    for k, t in enumerate(ts):
        tt = torch.full((3,), float(t))
        eps_c, _, _ = adaptive_eps(model, x, tt, y, theta, min_depth=2)
        if k in (2, 4):
            eps_u = exits_of(model, x, tt, null)[0][:, 1]
        eps = eps_c if k < 2 else eps_u + 2.0 * (eps_c - eps_u)
        ab_prev = float(schedule.alphas_cumprod[ts[k + 1]]) if k + 1 < len(ts) else 1.0
        x, _ = ddim_step(x, eps, float(schedule.alphas_cumprod[t]), ab_prev)
    assert torch.allclose(image, x.clamp(-1, 1), atol=1e-6)


def test_evaluate_can_draw_the_runtimes_noise():
    """`evaluate --noise runtime` starts image k (class-major) from the runtime's seed 1000 + k, as
    `adadiff eval` does, so the two evaluations can be compared on identical inputs."""
    from tools.export.pipeline.evaluate import seeded_inputs
    from tools.export.core.noise import normal

    m = tiny()
    labels, noise = seeded_inputs(m, 3, seed=0, noise="runtime")
    assert labels.tolist() == [c for c in range(m.num_classes) for _ in range(3)]
    assert noise.shape == (3 * m.num_classes, 1, 28, 28) and noise.dtype == torch.float32
    for k in (0, 4, 3 * m.num_classes - 1):
        assert torch.equal(noise[k].flatten(), torch.from_numpy(normal(1000 + k, 784)))
    _, torch_noise = seeded_inputs(m, 3, seed=0)
    assert not torch.equal(torch_noise, noise)


def test_ddim_steps_with_the_noise_the_clipped_x0_implies():
    from tools.export.core.diffusion import NoiseSchedule, ddim_step

    schedule = NoiseSchedule()
    ab_t, ab_prev = float(schedule.alphas_cumprod[600]), float(schedule.alphas_cumprod[550])
    x = torch.tensor([0.9, -0.95, 0.1])
    eps = torch.tensor([-1.5, 1.4, 0.2])  # x0 of this ε lies far outside [-1, 1] for the first two
    x_prev, x0 = ddim_step(x, eps, ab_t, ab_prev)
    assert x0[:2].abs().tolist() == [1.0, 1.0]
    implied = (x - ab_t**0.5 * x0) / (1 - ab_t) ** 0.5
    assert torch.allclose(ab_t**0.5 * x0 + (1 - ab_t) ** 0.5 * implied, x, atol=1e-6)
    assert torch.allclose(x_prev, ab_prev**0.5 * x0 + (1 - ab_prev) ** 0.5 * implied, atol=1e-6)
    assert abs(float(implied[2] - eps[2])) < 1e-5  # unclipped: the model's own noise


def test_static_depths_fix_every_pass_and_shallow_keeps_the_unconditional_one_at_min_depth():
    from tools.export.core.diffusion import NoiseSchedule, ddim_timesteps, sample, switch_depths

    model = tiny()
    schedule = NoiseSchedule(num_timesteps=100)
    y, noise = torch.tensor([1, 2]), torch.randn(2, 1, 28, 28, generator=torch.Generator().manual_seed(3))
    ts = ddim_timesteps(100, 5)  # 99, 79, 59, 39, 19
    depths = switch_depths(ts, 60, 2, model.num_blocks)
    assert depths == [2, 2, model.num_blocks, model.num_blocks, model.num_blocks]
    _, trace = sample(model, schedule, y, noise, steps=5, guidance=2.0, depths=depths)
    for d, rec in zip(depths, trace):
        assert rec["exit_cond"] == [d - 1, d - 1] and rec["exit_uncond"] == [d - 1, d - 1]
    _, shallow = sample(model, schedule, y, noise, steps=5, guidance=2.0, depths=depths, min_depth=1,
                        batching="shallow")
    assert [rec["exit_cond"][0] for rec in shallow] == [d - 1 for d in depths]
    assert all(rec["exit_uncond"] == [0, 0] for rec in shallow)


def test_the_python_samplers_recover_the_clean_image_from_an_exact_noise_model():
    """As the runtime's samplers test: a model that knows x0 must lead every sampler to it."""
    from tools.export.core.diffusion import NoiseSchedule, ddim_step, ddim_timesteps, ddpm_step, dpmpp2m_step

    schedule = NoiseSchedule()
    target = torch.tensor([0.25, -0.5, 0.75, 0.0])
    for name in ("ddim", "ddpm", "dpmpp2m"):
        x, state = torch.tensor([1.1, -0.3, 0.2, -1.7]), None
        ts = ddim_timesteps(1000, 10)
        for k, t in enumerate(ts):
            ab = float(schedule.alphas_cumprod[t])
            ab_prev = float(schedule.alphas_cumprod[ts[k + 1]]) if k + 1 < len(ts) else 1.0
            eps = (x - ab**0.5 * target) / (1 - ab) ** 0.5
            if name == "ddim":
                x, _ = ddim_step(x, eps, ab, ab_prev)
            elif name == "ddpm":
                x, _ = ddpm_step(x, eps, ab, ab_prev, torch.zeros(4))
            else:
                x, _, state = dpmpp2m_step(x, eps, ab, ab_prev, state)
        assert torch.allclose(x, target, atol=1e-4), name


def test_real_floor_judges_real_images_like_samples():
    """The floor a model's agreement and FID are read against: real training images through the same
    judge, against the held-out statistics (Fashion-MNIST, the shipped model's data, from Debian)."""
    from tools.export.core.data import FashionMNIST, load
    from tools.export.core.images import Options
    from tools.export.pipeline.evaluate import Judge, real_floor

    judge = Judge("tools/export/judges/fashion-mnist/classifier.pt")
    train = FashionMNIST.load("train", Options())
    floor = real_floor(judge, train, per_class=20)
    assert floor["samples"] == 200 and floor["images"] == "training split"
    assert floor["agreement"] > 0.85  # the judge scores ~0.93 on the held-out test set
    assert 0 < floor["fid"] < 60  # real images sit far closer to the held-out statistics than any sample here
    assert real_floor(judge, train, per_class=20) == floor  # the same draw every time
    assert load("fashion-mnist", "heldout", Options()).classes == FashionMNIST.classes


def test_manifest_format_version_is_the_runtimes():
    """The writer and the runtime read the version from one file; a manifest.ts that stopped reading
    it (a literal again) would let the two drift, so its source is checked too."""
    import re

    from tools.export.core.manifest import FORMAT_VERSION, SamplingSettings

    with open("src/runtime/manifest-format.json") as f:
        assert json.load(f)["formatVersion"] == FORMAT_VERSION
    with open("src/runtime/manifest.ts") as f:
        source = f.read()
    assert "from './manifest-format.json'" in source
    assert re.search(r"FORMAT_VERSION: number = format\.formatVersion", source)
    s = SamplingSettings(steps=20, guidance=1.75, sampler="dpmpp2m", min_depth=5, batching="shallow", uncond_every=2,
                         guidance_max_t=800)
    assert s.to_defaults(0.1) == {"threshold": 0.1, "steps": 20, "guidance": 1.75, "sampler": "dpmpp2m", "minDepth": 5,
                                  "batching": "shallow", "unconditionalEvery": 2, "guidanceMaxT": 800}
    plain = SamplingSettings.from_config(from_dict({})["sampling"])
    assert plain.to_defaults(0.2) == {"threshold": 0.2, "steps": 20, "guidance": 3.0, "sampler": "ddim"}
    assert SamplingSettings.from_config(from_dict({})["sampling"], conditional=False).guidance == 1.0
