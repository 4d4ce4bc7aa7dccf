"""Exit-policy diagnostics agree with the reference sampler where they should."""

import torch

from tools.export.studies.diagnose import sample_with_policy
from tools.export.core.diffusion import NoiseSchedule, sample

from .test_model import tiny

STEPS, GUIDANCE = 4, 2.0


def setup():
    torch.manual_seed(0)
    model = tiny().eval()
    return model, NoiseSchedule(num_timesteps=100), torch.tensor([1, 2, 3]), torch.randn(3, 1, 28, 28)


def blocks_of(trace):
    return sum(e + 1 for rec in trace for key in ("exit_cond", "exit_uncond") for e in rec[key])


def test_uem_policy_is_the_reference_sampler_with_batched_passes():
    model, schedule, y, noise = setup()
    _, probe = sample(model, schedule, y, noise, STEPS, GUIDANCE, threshold=1.0)
    unc = sorted({u for rec in probe for row in rec["unc_cond"] for u in row})
    theta = unc[len(unc) // 2]  # a θ that exits somewhere and not everywhere
    want, trace = sample(model, schedule, y, noise, STEPS, GUIDANCE, theta, min_depth=2, batching="all")
    got, run, passes = sample_with_policy(model, schedule, y, noise, STEPS, GUIDANCE, "uem", theta, min_depth=2)
    assert torch.allclose(got, want, atol=1e-5)
    assert run == blocks_of(trace) and passes == 2 * 3 * STEPS
    assert 0 < run < passes * model.num_blocks


def test_oracle_bounds_give_full_depth_and_the_minimum_depth():
    model, schedule, y, noise = setup()
    full, _ = sample(model, schedule, y, noise, STEPS, GUIDANCE, threshold=0.0)
    got, run, passes = sample_with_policy(model, schedule, y, noise, STEPS, GUIDANCE, "oracle", 0.0)
    assert torch.allclose(got, full, atol=1e-5) and run == passes * model.num_blocks
    _, run, passes = sample_with_policy(model, schedule, y, noise, STEPS, GUIDANCE, "oracle", 1e9, min_depth=3)
    assert run == passes * 3


def test_residual_is_exact_when_every_step_refreshes_and_changes_exits_otherwise():
    model, schedule, y, noise = setup()
    full, _ = sample(model, schedule, y, noise, STEPS, GUIDANCE, threshold=0.0)
    always, run, passes = sample_with_policy(
        model, schedule, y, noise, STEPS, GUIDANCE, "static", 2, min_depth=2, residual=True, refresh=1
    )
    assert torch.allclose(always, full, atol=1e-5) and run == passes * model.num_blocks
    plain, run_plain, _ = sample_with_policy(model, schedule, y, noise, STEPS, GUIDANCE, "static", 2, min_depth=2)
    reused, run_reused, _ = sample_with_policy(
        model, schedule, y, noise, STEPS, GUIDANCE, "static", 2, min_depth=2, residual=True
    )
    # full depth on steps 0 and 2, block 2 on steps 1 and 3: the same blocks, different exits
    assert run_plain == run_reused == 2 * 3 * (2 * model.num_blocks + 2 * 2)
    assert not torch.allclose(plain, reused, atol=1e-4)


def test_uncond_scale_is_the_reference_sampler_with_weighted_passes():
    model, schedule, y, noise = setup()
    _, probe = sample(model, schedule, y, noise, STEPS, GUIDANCE, threshold=1.0)
    unc = sorted({u for rec in probe for row in rec["unc_cond"] for u in row})
    theta = unc[len(unc) // 3]
    want, trace = sample(model, schedule, y, noise, STEPS, GUIDANCE, theta, min_depth=2, batching="weighted")
    scale = GUIDANCE / abs(1 - GUIDANCE)
    got, run, _ = sample_with_policy(
        model, schedule, y, noise, STEPS, GUIDANCE, "uem", theta, min_depth=2, uncond_scale=scale
    )
    assert torch.allclose(got, want, atol=1e-5)
    assert run == blocks_of(trace)
